//! A workspace's own OpenID Connect connection (owners only): read, set
//! (the issuer checked by discovery before anything is saved, the client
//! secret sealed and never shown again) and removed.

use super::AppState;
use super::authz::{authorize, owner_only};
use super::caller::Caller;
use super::error::ApiError;
use super::input::{self, Input};
use super::responses as doc;
use super::sso_flow::{CALLBACK_PATH, secrets_key_missing};
use crate::sso::provider::DiscoveryFailed;
use crate::sso::seal;
use crate::store::sso_connections::{Connection, ConnectionChange};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Action, Role};

/// Longest client id and secret taken.
const MAX_CLIENT_FIELD: usize = 1024;
/// Most allowed domains.
const MAX_DOMAINS: usize = 50;

/// `PUT /v1/workspaces/{id}/sso/connection` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConnectionBody {
    /// The provider's issuer URL (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`).
    issuer: Option<String>,
    client_id: Option<String>,
    /// Required when creating; omitted on update to keep the stored one.
    client_secret: Option<String>,
    /// Email domains people signing in through it may have besides the
    /// workspace's verified ones.
    #[serde(default)]
    allowed_domains: Option<Vec<String>>,
    /// `admin`, `member` (default) or `viewer`: the role of people who join
    /// by signing in through it.
    default_role: Option<String>,
    /// Default `true`.
    enabled: Option<bool>,
}

/// A connection as the API shows it: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub workspace_id: String,
    pub issuer: String,
    pub client_id: String,
    /// Always `true`: a secret is stored (it is never shown).
    pub client_secret_set: bool,
    pub allowed_domains: Vec<String>,
    pub default_role: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// The back-channel logout URI to register at the provider.
    pub backchannel_logout_uri: String,
    /// Where the provider sends people back after signing out there (its
    /// post-logout redirect URI).
    pub post_logout_redirect_uri: String,
}

fn view(state: &AppState, c: Connection) -> ConnectionView {
    let backchannel_logout_uri = state
        .config
        .link(&format!("/.wrnexus/sso/backchannel-logout/{}", c.id));
    ConnectionView {
        id: c.id,
        workspace_id: c.workspace_id,
        issuer: c.issuer,
        client_id: c.client_id,
        client_secret_set: !c.client_secret_sealed.is_empty(),
        allowed_domains: c.allowed_domains,
        default_role: c.default_role.as_str().to_string(),
        enabled: c.enabled,
        created_at: c.created_at,
        updated_at: c.updated_at,
        redirect_uri: state.config.link(CALLBACK_PATH),
        backchannel_logout_uri,
        post_logout_redirect_uri: state.config.link(super::sso_flow::SIGNED_OUT_PATH),
    }
}

/// Check the caller is an owner of `id`.
async fn owner(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let allowed = authorize(state, caller, id, None, Action::ADMIN, "/sso").await?;
    owner_only(state, caller, &allowed, "configure single sign-on").await
}

/// An issuer URL: absolute http(s), no query, fragment or user name.
pub fn issuer(value: Option<String>) -> Result<String, ApiError> {
    let raw = value.ok_or_else(|| ApiError::missing("issuer"))?;
    let raw = raw.trim().to_string();
    let bad = |why: &str| {
        ApiError::field(
            ProblemCode::InvalidUrl,
            "issuer",
            format!(
                "`issuer` must be the provider's issuer URL, like https://idp.example.com: {why}"
            ),
        )
    };
    if raw.len() > 2048 {
        return Err(bad("it is too long"));
    }
    let url = reqwest::Url::parse(&raw).map_err(|_| bad("it is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(bad("it is not an absolute http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("it has a query, fragment or user name"));
    }
    // Kept as given: the provider's documents name it exactly so (some
    // issuers end with `/`).
    Ok(raw)
}

fn client_field(value: Option<String>, field: &'static str) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(ApiError::missing(field));
    }
    if value.len() > MAX_CLIENT_FIELD || value.chars().any(char::is_control) {
        return Err(ApiError::field(
            ProblemCode::InvalidField,
            field,
            format!("`{field}` must be at most {MAX_CLIENT_FIELD} printable characters"),
        ));
    }
    Ok(Some(value))
}

/// Email domains: lowercase DNS names of two labels or more.
pub fn domains(value: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let items = value.unwrap_or_default();
    if items.len() > MAX_DOMAINS {
        return Err(ApiError::field(
            ProblemCode::InvalidList,
            "allowed_domains",
            format!("`allowed_domains` may name at most {MAX_DOMAINS} domains"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let domain = crate::sso::domain_name::normalise_domain(&item).map_err(|_| {
            ApiError::field(
                ProblemCode::InvalidList,
                "allowed_domains",
                format!(
                    "`allowed_domains` must list domain names like example.com (no wildcard, \
                     address or bare suffix), not `{item}`"
                ),
            )
        })?;
        if !out.contains(&domain) {
            out.push(domain);
        }
    }
    Ok(out)
}

fn default_role(value: Option<String>) -> Result<Role, ApiError> {
    let role = input::role(
        Some(value.unwrap_or_else(|| "member".to_string())),
        "default_role",
    )?;
    if role == Role::Owner {
        return Err(ApiError::field(
            ProblemCode::InvalidRole,
            "default_role",
            "`default_role` must be admin, member or viewer: nobody becomes an owner by signing in",
        ));
    }
    Ok(role)
}

fn discovery_error(e: DiscoveryFailed) -> ApiError {
    let (code, why) = match &e {
        DiscoveryFailed::Unreachable(m) => (ProblemCode::IssuerUnreachable, m),
        DiscoveryFailed::Invalid(m) => (ProblemCode::IssuerInvalid, m),
    };
    let mut e = ApiError::field(
        code,
        "issuer",
        format!("`issuer` could not be used as an OpenID provider: {why}"),
    );
    e.status = StatusCode::UNPROCESSABLE_ENTITY;
    e
}

/// The workspace's connection (owners), without its secret.
#[utoipa::path(
    get,
    path = "/workspaces/{id}/sso/connection",
    tag = "sso",
    operation_id = "get_sso_connection",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The connection, without its secret", body = ConnectionView),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    owner(&state, &caller, &id).await?;
    let connection = state
        .store
        .sso_connection(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("single sign-on connection"))?;
    Ok(Json(view(&state, connection)))
}

/// Create or replace the workspace's connection (owners). The issuer is
/// discovered first; the secret is sealed at rest and never shown again.
#[utoipa::path(
    put,
    path = "/workspaces/{id}/sso/connection",
    tag = "sso",
    operation_id = "put_sso_connection",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((ConnectionBody = "application/json"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Updated", body = ConnectionView),
        (status = 201, description = "Created", body = ConnectionView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::BadRequest),
        (status = 503, response = doc::Unavailable)
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<ConnectionBody>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    owner(&state, &caller, &id).await?;
    let body = input.value;
    let Some(key) = state.config.sso.secrets_key else {
        return Err(secrets_key_missing());
    };
    let issuer = issuer(body.issuer)?;
    let client_id =
        client_field(body.client_id, "client_id")?.ok_or_else(|| ApiError::missing("client_id"))?;
    let client_secret = client_field(body.client_secret, "client_secret")?;
    let allowed_domains = domains(body.allowed_domains)?;
    let default_role = default_role(body.default_role)?;
    let existing = state.store.sso_connection(&id).await?;
    if existing.is_none() && client_secret.is_none() {
        return Err(ApiError::missing("client_secret"));
    }
    // The provider must answer as one before anything is saved (through
    // the guard: the owner chose the URL).
    state
        .sso
        .providers
        .discover_now(&state.sso.guarded, true, &issuer)
        .await
        .map_err(discovery_error)?;
    let sealed = client_secret
        .map(|secret| seal::seal(&key, &secret, &id))
        .transpose()
        .map_err(|_| ApiError::internal())?;
    let saved = state
        .store
        .put_sso_connection(
            &id,
            ConnectionChange {
                issuer,
                client_id,
                client_secret_sealed: sealed,
                allowed_domains,
                default_role,
                enabled: body.enabled.unwrap_or(true),
            },
            caller.meta(),
        )
        .await?;
    if let Some(old) = existing {
        state.sso.providers.forget(&old.issuer);
    }
    let status = if saved.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&state, saved.connection))))
}

/// Remove the workspace's connection (owners).
#[utoipa::path(
    delete,
    path = "/workspaces/{id}/sso/connection",
    tag = "sso",
    operation_id = "delete_sso_connection",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    owner(&state, &caller, &id).await?;
    let old = state
        .store
        .delete_sso_connection(&id, caller.meta())
        .await?;
    state.sso.providers.forget(&old.issuer);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_absolute_urls_kept_as_given() {
        assert_eq!(
            issuer(Some(" https://idp.example.com/realm ".into())).unwrap(),
            "https://idp.example.com/realm"
        );
        assert_eq!(
            issuer(Some("https://tenant.idp.example/".into())).unwrap(),
            "https://tenant.idp.example/"
        );
        for bad in [
            "idp.example.com",
            "ftp://idp.example.com",
            "https://idp.example.com/?a=b",
            "https://u@idp.example.com",
        ] {
            let e = issuer(Some(bad.into())).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("issuer"), "{bad}");
        }
        assert_eq!(issuer(None).unwrap_err().code, "missing_field");
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            domains(Some(vec!["Corp.Example.".into(), "corp.example".into()])).unwrap(),
            vec!["corp.example".to_string()]
        );
        for bad in ["com", "*.corp.example", "a..b", "-a.example", "a b.example"] {
            assert!(domains(Some(vec![bad.into()])).is_err(), "{bad}");
        }
    }

    #[test]
    fn nobody_joins_as_an_owner() {
        assert_eq!(default_role(None).unwrap(), Role::Member);
        assert!(default_role(Some("owner".into())).is_err());
    }
}
