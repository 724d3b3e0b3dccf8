//! What the gateway asserts: the wire claims of the `x-wrnexus-assertion`
//! JWT, and the verified [`GatewayContext`] apps work with.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The request header carrying the assertion.
pub const ASSERTION_HEADER: &str = "x-wrnexus-assertion";
/// `iss` of every assertion.
pub const ISSUER: &str = "wrnexus-gateway";
/// The gateway's `aud` unless configured otherwise (`assertion_audience`).
pub const DEFAULT_AUDIENCE: &str = "wrnexus-upstream";

/// The claims of one assertion, as the gateway signs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, or the API key id when `kind` is `api_key`.
    pub sub: String,
    /// `user` or `api_key`.
    pub kind: String,
    /// The workspace the request was authorized in.
    pub wid: String,
    /// The role it was authorized with (an API key's ceiling).
    pub role: Role,
    /// The request id, also sent as `x-request-id`.
    pub rid: String,
    pub iat: i64,
    pub exp: i64,
}

/// A member's role in a workspace, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            Role::Member => 1,
            Role::Viewer => 0,
        }
    }

    /// Whether this role grants at least what `other` does, e.g.
    /// `ctx.role.at_least(Role::Admin)`.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// A signed-in user, by user id.
    User(String),
    /// An API key, by key id (never the secret).
    ApiKey(String),
}

impl Principal {
    /// The user or API key id.
    pub fn id(&self) -> &str {
        match self {
            Principal::User(id) | Principal::ApiKey(id) => id,
        }
    }
}

/// The verified context of one request that came through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayContext {
    pub principal: Principal,
    /// The workspace the request was authorized in.
    pub workspace_id: String,
    /// The role it was authorized with.
    pub role: Role,
    /// The gateway's request id (also `x-request-id`), for logs.
    pub request_id: String,
    /// When the assertion was signed and when it expires (Unix seconds).
    pub issued_at: i64,
    pub expires_at: i64,
}

impl GatewayContext {
    /// The user id, when a user (not an API key) is calling.
    pub fn user_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User(id) => Some(id),
            Principal::ApiKey(_) => None,
        }
    }

    /// The API key id, when an API key is calling.
    pub fn api_key_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::ApiKey(id) => Some(id),
            Principal::User(_) => None,
        }
    }
}

/// A `kind` claim the SDK does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown principal kind `{0}`")]
pub struct UnknownKind(pub String);

impl TryFrom<AssertionClaims> for GatewayContext {
    type Error = UnknownKind;

    fn try_from(claims: AssertionClaims) -> Result<Self, UnknownKind> {
        let principal = match claims.kind.as_str() {
            "user" => Principal::User(claims.sub),
            "api_key" => Principal::ApiKey(claims.sub),
            _ => return Err(UnknownKind(claims.kind)),
        };
        Ok(GatewayContext {
            principal,
            workspace_id: claims.wid,
            role: claims.role,
            request_id: claims.rid,
            issued_at: claims.iat,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_compare_by_strength() {
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(Role::Admin.at_least(Role::Admin));
        assert!(!Role::Member.at_least(Role::Admin));
        assert!(!Role::Viewer.at_least(Role::Member));
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let claims = AssertionClaims {
            iss: ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            sub: "s".into(),
            kind: "robot".into(),
            wid: "w".into(),
            role: Role::Viewer,
            rid: "r".into(),
            iat: 0,
            exp: 1,
        };
        assert_eq!(
            GatewayContext::try_from(claims),
            Err(UnknownKind("robot".into()))
        );
    }
}
