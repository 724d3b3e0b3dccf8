//! Workspaces: list mine, create, read, rename, delete, transfer ownership.

use super::AppState;
use super::authz::{authorize, owner_only};
use super::caller::{Caller, person};
use super::error::ApiError;
use super::input::{self, Input};
use super::responses as doc;
use crate::store::workspaces::{MyWorkspace, Workspace};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Action, Role};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewWorkspace {
    name: Option<String>,
    /// Refused: workspaces are flat.
    parent_id: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceChange {
    name: Option<String>,
    parent_id: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Transfer {
    user_id: Option<String>,
}

/// Workspaces the caller belongs to, with its role in each.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<MyWorkspace>,
}

/// A workspace and the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceWithRole {
    pub workspace: Workspace,
    pub role: Role,
}

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceBody {
    pub workspace: Workspace,
}

/// Ownership moved: the new owner, and the role the previous one keeps.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transferred {
    pub owner: String,
    pub previous_owner_role: Role,
}

fn flat(parent_id: Option<&Value>) -> Result<(), ApiError> {
    match parent_id {
        Some(_) => Err(ApiError::field(
            ProblemCode::WorkspacesAreFlat,
            "parent_id",
            "workspaces cannot be nested: `parent_id` is not accepted",
        )),
        None => Ok(()),
    }
}

/// The caller's workspaces (an API key: its own one).
#[utoipa::path(
    get,
    path = "/workspaces",
    tag = "workspaces",
    operation_id = "list_workspaces",
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Workspaces with the caller's role", body = WorkspaceList),
        (status = 401, response = doc::Unauthorized)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WorkspaceList>, ApiError> {
    let workspaces = match &caller {
        Caller::User(actor) => state.store.workspaces_of(&actor.user_id).await?,
        // A key sees its one workspace, with its ceiling as the role.
        Caller::Key { key, .. } => state
            .store
            .workspace(&key.workspace_id)
            .await?
            .map(|w| MyWorkspace {
                workspace: w,
                role: key.role_ceiling,
            })
            .into_iter()
            .collect(),
    };
    Ok(Json(WorkspaceList { workspaces }))
}

/// Create a team workspace, owned by the caller.
#[utoipa::path(
    post,
    path = "/workspaces",
    tag = "workspaces",
    operation_id = "create_workspace",
    request_body(content((NewWorkspace = "application/json"), (NewWorkspace = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 201, description = "Created", body = WorkspaceWithRole),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    input: Input<NewWorkspace>,
) -> Result<(StatusCode, Json<WorkspaceWithRole>), ApiError> {
    flat(input.value.parent_id.as_ref())?;
    let name = input::name(input.value.name, "name")?;
    let actor = person(caller)?;
    let workspace = state
        .store
        .create_team_workspace(&actor.user_id, &name, &actor.meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WorkspaceWithRole {
            workspace,
            role: Role::Owner,
        }),
    ))
}

/// One workspace and the caller's role in it.
#[utoipa::path(
    get,
    path = "/workspaces/{id}",
    tag = "workspaces",
    operation_id = "get_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceWithRole),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkspaceWithRole>, ApiError> {
    let allowed = authorize(&state, &caller, &id, None, Action::READ, "/workspace").await?;
    let workspace = state
        .store
        .workspace(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    Ok(Json(WorkspaceWithRole {
        workspace,
        role: allowed.role,
    }))
}

/// Rename a workspace (admins).
#[utoipa::path(
    patch,
    path = "/workspaces/{id}",
    tag = "workspaces",
    operation_id = "rename_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((WorkspaceChange = "application/json"), (WorkspaceChange = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Renamed", body = WorkspaceBody),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<WorkspaceChange>,
) -> Result<Json<WorkspaceBody>, ApiError> {
    flat(input.value.parent_id.as_ref())?;
    let name = input::name(input.value.name, "name")?;
    authorize(&state, &caller, &id, None, Action::ADMIN, "/workspace").await?;
    let workspace = state
        .store
        .rename_workspace(&id, &name, caller.meta())
        .await?;
    Ok(Json(WorkspaceBody { workspace }))
}

/// Delete a workspace (its owner).
#[utoipa::path(
    delete,
    path = "/workspaces/{id}",
    tag = "workspaces",
    operation_id = "delete_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
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
    // The path the policies know deletion by: a suspended workspace can
    // still be deleted (see `suspension.cedar`).
    let path = wrnexus_policies::DELETE_WORKSPACE_PATH;
    let allowed = authorize(&state, &caller, &id, None, Action::ADMIN, path).await?;
    owner_only(&state, &caller, &allowed, "delete the workspace").await?;
    state.store.delete_workspace(&id, caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Transfer ownership to another member (the owner, signed in).
#[utoipa::path(
    post,
    path = "/workspaces/{id}/transfer",
    tag = "workspaces",
    operation_id = "transfer_workspace",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((Transfer = "application/json"), (Transfer = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Transferred; the previous owner becomes an admin", body = Transferred),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<Transfer>,
) -> Result<Json<Transferred>, ApiError> {
    let to = input
        .value
        .user_id
        .ok_or_else(|| ApiError::missing("user_id"))?;
    let allowed = authorize(&state, &caller, &id, None, Action::ADMIN, "/transfer").await?;
    owner_only(&state, &caller, &allowed, "transfer ownership").await?;
    let actor = person(caller)?;
    state
        .store
        .transfer_ownership(&id, &actor.user_id, &to, &actor.meta)
        .await?;
    Ok(Json(Transferred {
        owner: to,
        previous_owner_role: Role::Admin,
    }))
}
