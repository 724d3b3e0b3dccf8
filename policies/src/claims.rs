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
}
