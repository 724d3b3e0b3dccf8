//! The session cookie's claims (design §2): who, which workspace, which session.

use serde::{Deserialize, Serialize};

/// The default cookie name; `__Host-` pins it to one origin, `Path=/`, `Secure`.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-wrnexus_session";
/// The default `iss` claim.
pub const DEFAULT_ISSUER: &str = "wrnexus";
/// The default `aud` claim.
pub const DEFAULT_AUDIENCE: &str = "wrnexus-gateway";

/// Claims of the EdDSA-signed session JWT. The role is deliberately absent:
/// authority always comes from the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Current workspace id.
    pub wid: String,
    /// Session id; revoking it ends the session everywhere.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// How the user signed in: `pwd` (password), `oidc` (an instance-wide
    /// OpenID provider), `sso` (a workspace's own IdP). Empty in cookies
    /// made before sign-in methods were recorded, which read as `pwd`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the user signed in, Unix seconds (0 in older cookies: `iat`).
    #[serde(default)]
    pub auth_time: i64,
    /// The workspace whose own IdP signed the user in (with `sso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_wid: Option<String>,
}

impl SessionClaims {
    /// The sign-in methods, `pwd` for a cookie that names none.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        let named = self.amr.iter().map(String::as_str);
        let none = self.amr.is_empty().then_some(AMR_PASSWORD);
        named.chain(none)
    }

    /// When the user signed in: `auth_time`, else (older cookies) `iat`.
    pub fn signed_in_at(&self) -> i64 {
        if self.auth_time > 0 {
            self.auth_time
        } else {
            self.iat
        }
    }
}

/// `amr` of a password sign-in.
pub const AMR_PASSWORD: &str = "pwd";
/// `amr` of a sign-in through an instance-wide OpenID provider.
pub const AMR_OIDC: &str = "oidc";
/// `amr` of a sign-in through a workspace's own IdP (`sso_wid` names it).
pub const AMR_SSO: &str = "sso";
