//! Roles and workspace status, as every side names them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A member's role in a workspace, strongest first.
///
/// Roles sort strongest first (`Owner < Admin < Member < Viewer`): the
/// weaker of two roles is the greater. Ask [`Role::at_least`] whether one
/// grants what another does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A member's role in a workspace, strongest first.")
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    /// Every role, strongest first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    /// The wire name: `owner`, `admin`, `member` or `viewer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role grants at least what `other` does, e.g.
    /// `role.at_least(Role::Admin)` (owner ⊇ admin ⊇ member ⊇ viewer).
    pub fn at_least(self, other: Role) -> bool {
        self <= other
    }
}

/// An unknown role or workspace status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "role",
                value: s.to_string(),
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a workspace may change things; `suspended` is read-only (for
/// example for non-payment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceStatus {
    Active,
    /// Read-only, e.g. for non-payment.
    Suspended,
}

impl WorkspaceStatus {
    pub const ALL: [WorkspaceStatus; 2] = [WorkspaceStatus::Active, WorkspaceStatus::Suspended];

    /// The wire name: `active` or `suspended`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkspaceStatus::Active => "active",
            WorkspaceStatus::Suspended => "suspended",
        }
    }
}

impl FromStr for WorkspaceStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkspaceStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "workspace status",
                value: s.to_string(),
            })
    }
}

impl fmt::Display for WorkspaceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() -> Result<(), serde_json::Error> {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role)?, format!("\"{role}\""));
        }
        for status in WorkspaceStatus::ALL {
            assert_eq!(status.as_str().parse::<WorkspaceStatus>(), Ok(status));
            assert_eq!(serde_json::to_string(&status)?, format!("\"{status}\""));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Owner".parse::<Role>().is_err());
        Ok(())
    }

    #[test]
    fn roles_compare_by_strength() {
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Admin.at_least(Role::Admin));
        assert!(!Role::Member.at_least(Role::Admin));
        assert!(!Role::Viewer.at_least(Role::Member));
        // Strongest first: the weaker of two is the greater.
        assert!(Role::Owner < Role::Viewer);
        assert_eq!(Role::Admin.max(Role::Member), Role::Member);
    }
}
