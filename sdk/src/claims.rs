//! What the gateway asserts: the wire claims of the `x-wrnexus-assertion`
//! JWT, and the verified [`GatewayContext`] apps work with.

use serde::{Deserialize, Serialize};

/// The wire claims, the header and the role are the contract's
/// (`wrnexus-contract`), the very types the gateway signs.
pub use wrnexus_contract::Role;
pub use wrnexus_contract::assertion::{
    ASSERTION_HEADER, ASSERTION_ISSUER as ISSUER, AssertionClaims,
    DEFAULT_ASSERTION_AUDIENCE as DEFAULT_AUDIENCE, KIND_API_KEY, KIND_USER,
};

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
    /// The project it was authorized on (also `x-project-id`), when the
    /// gateway's route names one; `None`: authorized on the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
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
            KIND_USER => Principal::User(claims.sub),
            KIND_API_KEY => Principal::ApiKey(claims.sub),
            _ => return Err(UnknownKind(claims.kind)),
        };
        Ok(GatewayContext {
            principal,
            workspace_id: claims.wid,
            role: claims.role,
            project_id: claims.pid,
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
    fn unknown_kinds_are_refused() {
        let claims = AssertionClaims {
            iss: ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            sub: "s".into(),
            kind: "robot".into(),
            wid: "w".into(),
            role: Role::Viewer,
            pid: None,
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
