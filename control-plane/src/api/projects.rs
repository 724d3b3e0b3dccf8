//! Projects of a workspace: list, create, rename, archive.

use super::AppState;
use super::authz::authorize;
use super::caller::Caller;
use super::error::ApiError;
use super::input::{self, Input};
use super::responses as doc;
use crate::store::projects::{Project, ProjectChange};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Action, UNARCHIVE_PROJECT_PATH};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewProject {
    name: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProjectUpdate {
    name: Option<String>,
    archived: Option<bool>,
}

/// Projects of a workspace (only the granted ones for a limited member or
/// key).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// One project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectBody {
    pub project: Project,
}

/// Projects of a workspace (only the granted ones for a limited member or
/// key).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/projects",
    tag = "projects",
    operation_id = "list_projects",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The projects", body = ProjectList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProjectList>, ApiError> {
    authorize(&state, &caller, &id, None, Action::READ, "/projects").await?;
    let mut projects = state.store.projects(&id).await?;
    // A membership or a key limited to projects sees only those.
    let granted = match &caller {
        Caller::User(actor) => state
            .store
            .membership(&id, &actor.user_id)
            .await?
            .and_then(|m| m.projects),
        Caller::Key { key, .. } => key.projects.clone(),
    };
    if let Some(granted) = granted {
        projects.retain(|p| granted.contains(&p.id));
    }
    Ok(Json(ProjectList { projects }))
}

/// Create a project (admins).
#[utoipa::path(
    post,
    path = "/workspaces/{id}/projects",
    tag = "projects",
    operation_id = "create_project",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((NewProject = "application/json"), (NewProject = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = ProjectBody),
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
    input: Input<NewProject>,
) -> Result<(StatusCode, Json<ProjectBody>), ApiError> {
    let name = input::name(input.value.name, "name")?;
    authorize(&state, &caller, &id, None, Action::ADMIN, "/projects").await?;
    let project = state
        .store
        .create_project(&id, &name, caller.meta())
        .await?;
    Ok((StatusCode::CREATED, Json(ProjectBody { project })))
}

/// Rename, archive or unarchive a project (admins). An archived project
/// takes nothing but unarchiving (`archived: false`, a new name allowed).
#[utoipa::path(
    patch,
    path = "/workspaces/{id}/projects/{project_id}",
    tag = "projects",
    operation_id = "update_project",
    params(("id" = String, Path, description = "Workspace id"), ("project_id" = String, Path, description = "Project id")),
    request_body(content((ProjectUpdate = "application/json"), (ProjectUpdate = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The project, changed", body = ProjectBody),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, project_id)): Path<(String, String)>,
    input: Input<ProjectUpdate>,
) -> Result<Json<ProjectBody>, ApiError> {
    let ProjectUpdate { name, archived } = input.value;
    if name.is_none() && archived.is_none() {
        return Err(ApiError::field(
            ProblemCode::MissingField,
            "name",
            "give `name`, `archived`, or both",
        ));
    }
    let name = name.map(|n| input::name(Some(n), "name")).transpose()?;
    // An archived project is read-only but for unarchiving it, which the
    // policies leave open to admins on a path of the control plane's own.
    let path = if archived == Some(false) {
        UNARCHIVE_PROJECT_PATH
    } else {
        "/projects"
    };
    authorize(&state, &caller, &id, Some(&project_id), Action::ADMIN, path).await?;
    let project = state
        .store
        .update_project(
            &id,
            &project_id,
            &ProjectChange { name, archived },
            caller.meta(),
        )
        .await?;
    Ok(Json(ProjectBody { project }))
}
