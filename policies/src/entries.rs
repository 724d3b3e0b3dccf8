//! Decision data: what the gateway needs to decide, as cached and pushed entries.
//!
//! The control plane is the only writer. After every committed change that
//! can alter a decision it writes the new entry (with a higher version) to
//! Redis and publishes an [`Invalidation`]; gateways drop their local copy.

use crate::model::{Role, WorkspaceStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Redis pub/sub channel carrying [`Invalidation`]s.
pub const INVALIDATION_CHANNEL: &str = "wrnexus:invalidations";

/// What a decision needs, one key each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKey {
    Membership {
        workspace_id: String,
        user_id: String,
    },
    Workspace(String),
    Session(String),
    User(String),
    /// An API key, by its key id.
    ApiKey(String),
}

impl EntryKey {
    pub fn membership(workspace_id: &str, user_id: &str) -> Self {
        EntryKey::Membership {
            workspace_id: workspace_id.to_string(),
            user_id: user_id.to_string(),
        }
    }

    /// The cache key, the same in Redis and in every gateway's local cache.
    pub fn cache_key(&self) -> String {
        match self {
            EntryKey::Membership {
                workspace_id,
                user_id,
            } => format!("wrnexus:member:{workspace_id}:{user_id}"),
            EntryKey::Workspace(id) => format!("wrnexus:workspace:{id}"),
            EntryKey::Session(id) => format!("wrnexus:session:{id}"),
            EntryKey::User(id) => format!("wrnexus:user:{id}"),
            EntryKey::ApiKey(id) => format!("wrnexus:apikey:{id}"),
        }
    }
}

/// One piece of decision data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// `role: None` means "not a member" (a cached negative answer).
    Membership {
        role: Option<Role>,
        /// The projects the membership is limited to; `None`: all of them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        projects: Option<Vec<String>>,
    },
    Workspace {
        status: WorkspaceStatus,
        plan: String,
    },
    Session {
        user_id: String,
        revoked: bool,
    },
    User {
        disabled: bool,
    },
    /// An API key: its one workspace, its role ceiling, and whether it
    /// still works. Only the hash of the secret is ever stored or pushed.
    ApiKey {
        workspace_id: String,
        role_ceiling: Role,
        secret_hash: String,
        /// Unix seconds; `None`: never expires.
        expires_at: Option<i64>,
        revoked: bool,
    },
    /// The workspace, session or user does not exist (any more).
    Missing,
}

/// An entry with the version it was read or written at. A writer may only
/// replace an entry with a strictly higher version, so a slow writer cannot
/// put back a stale one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedEntry {
    pub version: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

/// Everything one request needs, keyed by [`EntryKey::cache_key`]: the
/// control plane's answer to a gateway's miss.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionData {
    pub entries: BTreeMap<String, VersionedEntry>,
}

/// A change notice: drop your local copy of `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalidation {
    pub key: String,
    pub version: i64,
    /// When the control plane published it (Unix ms), to measure lag.
    pub published_at_ms: i64,
}

impl Invalidation {
    /// Now, in Unix milliseconds, the clock of `published_at_ms`.
    pub fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_as_flat_json() -> Result<(), serde_json::Error> {
        let entry = VersionedEntry {
            version: 7,
            entry: Entry::Membership {
                role: Some(Role::Viewer),
                projects: None,
            },
        };
        let json = serde_json::to_value(&entry)?;
        assert_eq!(
            json,
            serde_json::json!({"version": 7, "kind": "membership", "role": "viewer"})
        );
        let back: VersionedEntry = serde_json::from_value(json)?;
        assert_eq!(back, entry);
        Ok(())
    }

    #[test]
    fn keys_name_their_kind_and_ids() {
        assert_eq!(
            EntryKey::membership("w1", "u1").cache_key(),
            "wrnexus:member:w1:u1"
        );
        assert_eq!(
            EntryKey::Workspace("w1".into()).cache_key(),
            "wrnexus:workspace:w1"
        );
    }
}
