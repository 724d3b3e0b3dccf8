//! OpenID Connect Back-Channel Logout 1.0: a provider POSTs a logout token
//! (a JWT it signs) when a person's session there ends; it is verified as
//! §2.6 says — signature with the provider's keys, `iss`, `aud` = our
//! client id, `iat` recent, a `jti`, the back-channel logout event, `sid`
//! and/or `sub`, no `nonce` — and every session it names ends.

use super::AppState;
use super::sso_flow::Door;
use crate::sso::provider::Discovered;
use crate::store::sso_logout::IdpLogout;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// The event a logout token must carry.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old (or how far in the future, for clock skew) a token's `iat`
/// may be.
pub const MAX_AGE_SECS: i64 = 300;
const SKEW_SECS: i64 = 60;

/// Why a logout token is refused (said in the 400's `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    #[error("the logout token is not a signed JWT")]
    Malformed,
    #[error("the logout token's algorithm is not an accepted one")]
    Algorithm,
    #[error("the logout token is signed with an unknown key")]
    UnknownKey,
    #[error("the logout token is not valid: {0}")]
    Invalid(String),
    #[error("the logout token was issued too long ago (or in the future)")]
    Stale,
    #[error("the logout token has no `jti`")]
    NoJti,
    #[error("the logout token does not carry the back-channel logout event")]
    NoEvent,
    #[error("the logout token names neither `sid` nor `sub`")]
    NoSubject,
    #[error("a logout token must not carry a `nonce`")]
    Nonce,
}

/// What a valid logout token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sid: Option<String>,
    pub sub: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iat: Option<i64>,
    jti: Option<String>,
    sub: Option<String>,
    sid: Option<String>,
    events: Option<Value>,
    nonce: Option<Value>,
}

/// Asymmetric signatures only (`none` and shared secrets are refused).
fn accepted(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::EdDSA
    )
}

/// Verify `token` against `keys`, for `issuer` and our `client_id`, at `now`.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<LogoutClaims, LogoutError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| LogoutError::Malformed)?;
    if !accepted(header.alg) {
        return Err(LogoutError::Algorithm);
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // No `kid`: the provider's only key.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(LogoutError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| LogoutError::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.leeway = SKEW_SECS as u64;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| LogoutError::Invalid(e.to_string()))?
        .claims;
    let iat = claims.iat.ok_or(LogoutError::Stale)?;
    if iat < now - MAX_AGE_SECS || iat > now + SKEW_SECS {
        return Err(LogoutError::Stale);
    }
    if claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err(LogoutError::NoJti);
    }
    let has_event = claims
        .events
        .as_ref()
        .and_then(|e| e.get(LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !has_event {
        return Err(LogoutError::NoEvent);
    }
    if claims.nonce.is_some() {
        return Err(LogoutError::Nonce);
    }
    let sid = claims.sid.filter(|s| !s.is_empty());
    let sub = claims.sub.filter(|s| !s.is_empty());
    if sid.is_none() && sub.is_none() {
        return Err(LogoutError::NoSubject);
    }
    Ok(LogoutClaims { sid, sub })
}

/// A provider's keys in the form the verifier reads.
fn key_set(provider: &Discovered) -> Result<JwkSet, LogoutError> {
    serde_json::to_value(provider.metadata.jwks())
        .and_then(serde_json::from_value)
        .map_err(|_| LogoutError::UnknownKey)
}

/// Why a back-channel logout was not done.
#[derive(Debug, thiserror::Error)]
pub enum LogoutFailed {
    /// The token is refused (400).
    #[error("{0}")]
    Token(#[from] LogoutError),
    /// The provider or the store failed (500/502: the provider retries).
    #[error("{0}")]
    Server(String),
}

/// Verify `token` for `door` (its keys fetched again once when it names an
/// unknown one) and end the sessions it names; how many ended.
pub async fn back_channel_logout(
    state: &AppState,
    door: &Door,
    token: &str,
    meta: &crate::store::audit::Meta,
) -> Result<usize, LogoutFailed> {
    let http = state.sso.http(door.guarded());
    let providers = &state.sso.providers;
    let mut provider = providers
        .discover(http, door.guarded(), door.issuer())
        .await
        .map_err(|e| LogoutFailed::Server(e.to_string()))?;
    let now = crate::store::now();
    let claims = match verify(
        token,
        &key_set(&provider)?,
        door.issuer(),
        door.client_id(),
        now,
    ) {
        Err(LogoutError::UnknownKey) => {
            if let Some(fresh) = providers
                .refresh_keys(http, door.guarded(), door.issuer(), &provider)
                .await
                .map_err(|e| LogoutFailed::Server(e.to_string()))?
            {
                provider = fresh;
            }
            verify(
                token,
                &key_set(&provider)?,
                door.issuer(),
                door.client_id(),
                now,
            )?
        }
        other => other?,
    };
    let logout = IdpLogout {
        issuer: door.issuer().to_string(),
        sid: claims.sid,
        subject: claims.sub,
        workspace_id: door.connection().map(|c| c.workspace_id.clone()),
        source: match door {
            Door::Workspace { connection, .. } => connection.id.clone(),
            Door::Instance(p) => p.name.clone(),
        },
    };
    state
        .store
        .idp_logout(&logout, meta)
        .await
        .map_err(|e| LogoutFailed::Server(e.to_string()))
}

#[cfg(test)]
#[path = "sso_logout_tests.rs"]
mod tests;
