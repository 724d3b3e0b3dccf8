//! The signed assertion: a short-lived EdDSA JWT the gateway adds to every
//! forwarded request (header [`ASSERTION_HEADER`]), so an app can verify who
//! is calling instead of trusting plain headers. The public keys are served
//! by the control plane at `/v1/assertion-keys` (JWKS).

use crate::tenancy::Role;
use serde::{Deserialize, Serialize};

/// The request header carrying the assertion.
pub const ASSERTION_HEADER: &str = crate::headers::ASSERTION;
/// `iss` of every assertion.
pub const ASSERTION_ISSUER: &str = "wrnexus-gateway";
/// `aud` unless the gateway is configured otherwise (`assertion_audience`).
pub const DEFAULT_ASSERTION_AUDIENCE: &str = "wrnexus-upstream";
/// How long an assertion is valid, in seconds.
pub const ASSERTION_TTL_SECS: i64 = 60;

/// `kind` of an assertion made for a signed-in user (`sub` is the user id).
pub const KIND_USER: &str = "user";
/// `kind` of an assertion made for an API key (`sub` is the key id).
pub const KIND_API_KEY: &str = "api_key";

/// What an assertion states about one forwarded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, or the API key id when `kind` is `api_key`.
    pub sub: String,
    /// [`KIND_USER`] or [`KIND_API_KEY`].
    pub kind: String,
    /// The workspace the request was decided in.
    pub wid: String,
    /// The role it was decided with (an API key's ceiling).
    pub role: Role,
    /// The project it was decided on, when the route names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The request id the app also sees as `x-request-id`.
    pub rid: String,
    pub iat: i64,
    pub exp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_keep_their_wire_names() -> Result<(), serde_json::Error> {
        let claims = AssertionClaims {
            iss: ASSERTION_ISSUER.into(),
            aud: DEFAULT_ASSERTION_AUDIENCE.into(),
            sub: "u1".into(),
            kind: KIND_USER.into(),
            wid: "w1".into(),
            role: Role::Member,
            pid: None,
            rid: "r1".into(),
            iat: 1,
            exp: 61,
        };
        assert_eq!(
            serde_json::to_string(&claims)?,
            r#"{"iss":"wrnexus-gateway","aud":"wrnexus-upstream","sub":"u1","kind":"user","wid":"w1","role":"member","rid":"r1","iat":1,"exp":61}"#
        );
        Ok(())
    }
}
