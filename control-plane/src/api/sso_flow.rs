//! The authorization code flow with PKCE, `state` and `nonce`: sending a
//! person to a provider (the attempt kept server-side under the hash of its
//! `state`, the `state` itself in a short-lived cookie), and taking the code
//! back: the state checked against the cookie and spent once, the code
//! exchanged, the ID token verified (issuer, audience and `azp`, signature
//! with the provider's keys — fetched again when it names an unknown key —
//! expiry, nonce).

use super::AppState;
use super::error::ApiError;
use crate::config::OidcProviderConfig;
use crate::sso::provider::{Discovered, Metadata};
use crate::sso::seal;
use crate::store::sso_attempts::Attempt;
use crate::store::sso_connections::Connection;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    LoginHint, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wrnexus_contract::ProblemCode;

/// How long a person has to come back from the provider.
pub const ATTEMPT_TTL_SECS: i64 = 600;
/// The path every provider sends people back to.
pub const CALLBACK_PATH: &str = "/.wrnexus/sso/callback";
/// Where a provider sends people after they signed out there.
pub const SIGNED_OUT_PATH: &str = "/.wrnexus/signin";

/// The provider a sign-in goes through, with its client credentials.
#[derive(Clone)]
pub enum Door {
    /// A workspace's own connection (fetched through the SSRF guard).
    Workspace {
        connection: Box<Connection>,
        client_secret: String,
    },
    /// An instance-wide provider from the operator's config.
    Instance(OidcProviderConfig),
}

impl std::fmt::Debug for Door {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Door").field(&self.key()).finish()
    }
}

impl Door {
    /// `workspace:<connection id>` or `instance:<name>`, as attempts keep it.
    pub fn key(&self) -> String {
        match self {
            Door::Workspace { connection, .. } => format!("workspace:{}", connection.id),
            Door::Instance(p) => format!("instance:{}", p.name),
        }
    }

    pub fn issuer(&self) -> &str {
        match self {
            Door::Workspace { connection, .. } => &connection.issuer,
            Door::Instance(p) => &p.issuer,
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            Door::Workspace { connection, .. } => &connection.client_id,
            Door::Instance(p) => &p.client_id,
        }
    }

    fn client_secret(&self) -> &str {
        match self {
            Door::Workspace { client_secret, .. } => client_secret,
            Door::Instance(p) => &p.client_secret,
        }
    }

    /// Fetched through the SSRF guard (a workspace's provider).
    pub fn guarded(&self) -> bool {
        matches!(self, Door::Workspace { .. })
    }

    /// The connection, for a workspace's door.
    pub fn connection(&self) -> Option<&Connection> {
        match self {
            Door::Workspace { connection, .. } => Some(connection),
            Door::Instance(_) => None,
        }
    }
}

/// A sign-in that could not go on: 400 `sso_failed` with the reason.
pub fn failed(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ProblemCode::SsoFailed, detail)
}

/// 502: the provider could not be used.
fn provider_down(detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        ProblemCode::SsoFailed,
        format!("the identity provider could not be used: {detail}"),
    )
}

/// The door of a workspace connection: it must exist, be enabled, and its
/// secret open with the secrets key.
pub fn workspace_door(state: &AppState, connection: Connection) -> Result<Door, ApiError> {
    if !connection.enabled {
        return Err(ApiError::not_found("single sign-on connection"));
    }
    let Some(key) = state.config.sso.secrets_key.as_ref() else {
        return Err(secrets_key_missing());
    };
    let client_secret = seal::open(key, &connection.client_secret_sealed, &connection.workspace_id)
        .map_err(|e| {
            tracing::error!(connection_id = %connection.id, error = %e, "a connection's client secret does not open");
            ApiError::internal()
        })?;
    Ok(Door::Workspace {
        connection: Box::new(connection),
        client_secret,
    })
}

/// The door of an instance-wide provider called `name`.
pub fn instance_door(state: &AppState, name: &str) -> Result<Door, ApiError> {
    state
        .config
        .sso
        .provider(name)
        .cloned()
        .map(Door::Instance)
        .ok_or_else(|| ApiError::not_found("sign-in provider"))
}

/// The door an attempt's `provider` names.
pub async fn door_by_key(state: &AppState, key: &str) -> Result<Door, ApiError> {
    match key.split_once(':') {
        Some(("workspace", id)) => {
            let connection = state
                .store
                .sso_connection_by_id(id)
                .await?
                .ok_or_else(|| failed("the workspace's sign-in connection is gone"))?;
            workspace_door(state, connection)
        }
        Some(("instance", name)) => instance_door(state, name),
        _ => Err(failed("the sign-in attempt is not readable")),
    }
}

/// 503 `secrets_key_missing`.
pub fn secrets_key_missing() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemCode::SecretsKeyMissing,
        "single sign-on connections need a secrets key: the operator sets \
         `[control_plane] secrets_key` (or WRNEXUS_SECRETS_KEY)",
    )
}

/// The hash an attempt is kept under (the state itself stays with the
/// browser).
pub fn state_hash(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

/// The provider's discovery document and keys.
async fn discovered(state: &AppState, door: &Door) -> Result<Arc<Discovered>, ApiError> {
    state
        .sso
        .providers
        .discover(
            state.sso.http(door.guarded()),
            door.guarded(),
            door.issuer(),
        )
        .await
        .map_err(provider_down)
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(state: &AppState, door: &Door, metadata: &Metadata) -> Result<Client, ApiError> {
    let redirect = RedirectUrl::new(state.config.link(CALLBACK_PATH)).map_err(|_| {
        tracing::error!("the public URL does not make a valid redirect URI");
        ApiError::internal()
    })?;
    // Basic authentication unless the provider takes the secret only in
    // the body.
    let post_only = metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
        });
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(door.client_id().to_string()),
        Some(ClientSecret::new(door.client_secret().to_string())),
    )
    .set_redirect_uri(redirect);
    Ok(if post_only {
        client.set_auth_type(AuthType::RequestBody)
    } else {
        client
    })
}

/// Where a sign-in comes back to: a same-origin path, else `/`.
pub fn kept_return_to(raw: &str) -> String {
    wrnexus_policies::redirect::safe_return_to(raw).to_string()
}

/// Where the browser goes to sign in, and the `state` its cookie keeps.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: String,
    pub state: String,
}

/// Send a person to `door`'s provider: the attempt is kept, the URL made.
pub async fn start(
    state: &AppState,
    door: &Door,
    return_to: &str,
    login_hint: Option<&str>,
) -> Result<Started, ApiError> {
    let provider = discovered(state, door).await?;
    let client = client(state, door, &provider.metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_string()))
        .add_scope(Scope::new("profile".to_string()))
        .set_pkce_challenge(challenge);
    if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
        request = request.set_login_hint(LoginHint::new(hint.to_string()));
    }
    let (url, csrf, nonce) = request.url();
    let attempt = Attempt {
        provider: door.key(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to: kept_return_to(return_to),
        expires_at: crate::store::now() + ATTEMPT_TTL_SECS,
    };
    state
        .store
        .insert_sso_attempt(&state_hash(csrf.secret()), &attempt)
        .await?;
    Ok(Started {
        authorize_url: url.to_string(),
        state: csrf.secret().clone(),
    })
}

/// What a verified ID token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// The provider's session id, which its logouts name.
    pub sid: Option<String>,
    /// When the person authenticated at the provider (Unix seconds).
    pub auth_time: Option<i64>,
}

/// A claim of a JWT's payload, read without verifying (only ever after
/// the token was verified).
fn payload_claim(jwt: &str, name: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get(name)?.as_str().map(str::to_string)
}

/// Exchange the code of `attempt` at `door`'s provider and verify the ID
/// token it returns.
pub async fn finish(
    state: &AppState,
    door: &Door,
    attempt: &Attempt,
    code: &str,
) -> Result<Verified, ApiError> {
    let mut provider = discovered(state, door).await?;
    let http = state.sso.http(door.guarded());
    let token = client(state, door, &provider.metadata)?
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|_| failed("the identity provider has no token endpoint"))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| {
            tracing::info!(provider = %door.key(), error = %e, "code exchange failed");
            failed("the identity provider did not accept the sign-in code; sign in again")
        })?;
    let id_token = token
        .id_token()
        .ok_or_else(|| failed("the identity provider returned no ID token"))?;
    let nonce = Nonce::new(attempt.nonce.clone());
    let mut refreshed = false;
    loop {
        let client = client(state, door, &provider.metadata)?;
        match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => {
                let jwt = id_token.to_string();
                return Ok(Verified {
                    issuer: door.issuer().to_string(),
                    subject: claims.subject().as_str().to_string(),
                    email: claims.email().map(|e| e.as_str().to_string()),
                    email_verified: claims.email_verified().unwrap_or(false),
                    sid: payload_claim(&jwt, "sid"),
                    auth_time: claims.auth_time().map(|t| t.timestamp()),
                });
            }
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if !refreshed => {
                refreshed = true;
                match state
                    .sso
                    .providers
                    .refresh_keys(http, door.guarded(), door.issuer(), &provider)
                    .await
                    .map_err(provider_down)?
                {
                    Some(fresh) => provider = fresh,
                    None => return Err(failed("the ID token is signed with an unknown key")),
                }
            }
            Err(e) => {
                tracing::info!(provider = %door.key(), error = %e, "ID token refused");
                return Err(failed(format!("the ID token is not valid: {e}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_paths_are_kept_to_come_back_to() {
        assert_eq!(kept_return_to("/app/x?y=1"), "/app/x?y=1");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/%2F%2Fevil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(kept_return_to(bad), "/", "{bad}");
        }
    }

    #[test]
    fn states_are_kept_as_hashes() {
        let hash = state_hash("abc");
        assert_ne!(hash, "abc");
        assert_eq!(hash, state_hash("abc"));
        assert_eq!(hash.len(), 43);
    }

    #[test]
    fn payload_claims_are_read_from_the_middle_part() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sid":"s-1","n":1}"#);
        let jwt = format!("h.{payload}.sig");
        assert_eq!(payload_claim(&jwt, "sid").as_deref(), Some("s-1"));
        assert_eq!(payload_claim(&jwt, "n"), None);
        assert_eq!(payload_claim("nope", "sid"), None);
    }
}
