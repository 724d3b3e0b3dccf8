//! Operator endpoints (a token from configuration): suspend and reactivate.

use super::AppState;
use super::bearer::{self, Guard};
use super::error::ApiError;
use super::meta::RequestMeta;
use super::responses as doc;
use super::workspaces::WorkspaceBody;
use crate::store::audit::{ActorKind, Meta};
use crate::store::made_by::Ended;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::WorkspaceStatus;

fn check_operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let guard = Guard {
        off: (
            ProblemCode::OperatorApiDisabled,
            "the operator API is off: set WRNEXUS_OPERATOR_TOKEN to enable it",
        ),
        wrong: (
            ProblemCode::InvalidOperatorToken,
            "a valid operator token is required",
        ),
    };
    bearer::require(headers, state.config.operator_token.as_deref(), guard)
}

async fn set_status(
    state: AppState,
    headers: HeaderMap,
    meta: Meta,
    id: String,
    status: WorkspaceStatus,
) -> Result<Json<WorkspaceBody>, ApiError> {
    check_operator(&state, &headers)?;
    let meta = meta.with_actor(ActorKind::Operator, "operator");
    let workspace = state.store.set_workspace_status(&id, status, &meta).await?;
    tracing::info!(workspace_id = %id, status = %status, "workspace status set by operator");
    Ok(Json(WorkspaceBody { workspace }))
}

/// Suspend a workspace: it becomes read-only.
#[utoipa::path(
    post,
    path = "/operator/workspaces/{id}/suspend",
    tag = "operator",
    operation_id = "suspend_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Suspended", body = WorkspaceBody),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn suspend(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestMeta(meta): RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceBody>, ApiError> {
    set_status(state, headers, meta, id, WorkspaceStatus::Suspended).await
}

/// Reactivate a suspended workspace.
#[utoipa::path(
    post,
    path = "/operator/workspaces/{id}/reactivate",
    tag = "operator",
    operation_id = "reactivate_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Active again", body = WorkspaceBody),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn reactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestMeta(meta): RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceBody>, ApiError> {
    set_status(state, headers, meta, id, WorkspaceStatus::Active).await
}

/// Disable a user: no more sign-in, every session ended, and every API key
/// behind them revoked, at every gateway at once; the answer names the keys.
#[utoipa::path(
    post,
    path = "/operator/users/{id}/disable",
    tag = "operator",
    operation_id = "disable_user",
    params(("id" = String, Path, description = "User id")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "Disabled, and what went with them", body = Ended),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestMeta(meta): RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<Ended>, ApiError> {
    check_operator(&state, &headers)?;
    let meta = meta.with_actor(ActorKind::Operator, "operator");
    let ended = state.store.disable_user(&id, &meta).await?;
    tracing::info!(
        user_id = %id,
        sessions = ended.sessions,
        api_keys = ?ended.revoked.api_keys,
        "user disabled by operator"
    );
    Ok(Json(ended))
}
