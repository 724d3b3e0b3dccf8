//! API keys of a workspace: create (the secret is shown once), list, revoke.

use super::AppState;
use super::authz::authorize;
use super::caller::Caller;
use super::error::ApiError;
use super::input::{self, Input};
use super::responses as doc;
use crate::store::api_keys::ApiKey;
use crate::store::now;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::Action;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    name: Option<String>,
    /// The most the key may do; default `member`.
    role_ceiling: Option<String>,
    /// Unix seconds; absent: never expires.
    #[schema(value_type = Option<i64>)]
    expires_at: Option<Value>,
    /// Project ids of this workspace the key is limited to (at least one);
    /// absent or `null`: every project.
    projects: Option<Vec<String>>,
}

/// A key's expiry: Unix seconds in the future, as a JSON number or (from a
/// form) a string of digits; absent, `null` or blank: never.
fn expiry(value: Option<Value>) -> Result<Option<i64>, ApiError> {
    let secs = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match secs {
        Some(secs) if secs > now() => Ok(Some(secs)),
        _ => Err(ApiError::field(
            ProblemCode::InvalidExpiry,
            "expires_at",
            "`expires_at` must be a time in the future, in Unix seconds",
        )),
    }
}

/// API keys of a workspace, never with their secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

/// A new API key and its secret (`wrn_…`), shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub api_key: ApiKey,
    pub secret: String,
}

/// API keys of a workspace (admins).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/api-keys",
    tag = "api-keys",
    operation_id = "list_api_keys",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The keys, without secrets", body = ApiKeyList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyList>, ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/api-keys").await?;
    let api_keys = state.store.api_keys(&id).await?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// Create an API key; its ceiling cannot exceed the caller's role. It may
/// be limited to projects of the workspace.
#[utoipa::path(
    post,
    path = "/workspaces/{id}/api-keys",
    tag = "api-keys",
    operation_id = "create_api_key",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((NewKey = "application/json"), (NewKey = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The key and its secret, shown once", body = ApiKeyCreated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<NewKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let NewKey {
        name,
        role_ceiling,
        expires_at,
        projects,
    } = input.value;
    let name = input::name(name, "name")?;
    let ceiling = input::role(
        role_ceiling.or_else(|| Some("member".into())),
        "role_ceiling",
    )?;
    let expires_at = expiry(expires_at)?;
    let allowed = authorize(&state, &caller, &id, None, Action::ADMIN, "/api-keys").await?;
    // Gateways check a person's email on their sessions only; a key must
    // not carry an unverified person past that check.
    if state.config.require_verified_email
        && let Caller::User(actor) = &caller
        && !actor.email_verified
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::EmailUnverified,
            "verify your email before creating API keys: this deployment requires a verified email, \
             and a key would act without one; use the link mailed to you, or ask for a new one at \
             /.wrnexus/verify-email",
        ));
    }
    if !allowed.role.at_least(ceiling) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::CeilingAboveRole,
            format!(
                "a key's `role_ceiling` cannot exceed your own role `{}`",
                allowed.role
            ),
        ));
    }
    let (api_key, secret) = state
        .store
        .create_api_key(&id, &name, ceiling, expires_at, projects, caller.meta())
        .await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { api_key, secret })))
}

/// Revoke an API key (admins).
#[utoipa::path(
    delete,
    path = "/workspaces/{id}/api-keys/{key_id}",
    tag = "api-keys",
    operation_id = "revoke_api_key",
    params(("id" = String, Path, description = "Workspace id"), ("key_id" = String, Path, description = "Key id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/api-keys").await?;
    state
        .store
        .revoke_api_key(&id, &key_id, caller.meta())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
