//! Members: list, change role or project limits, remove, leave
//! (invitations are in [`super::invitations`]).

use super::AppState;
use super::authz::{authorize, owner_checked, owner_only};
use super::caller::Caller;
use super::error::ApiError;
use super::input::{self, Input};
use super::responses as doc;
use crate::store::made_by::Removal;
use crate::store::members::Member;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Action, Role};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MemberChange {
    role: Option<String>,
    /// A list of project ids, or `null` for every project. Absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    projects: Option<Option<Vec<String>>>,
}

/// Tell "absent" (outer `None`) from "null" (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Members of a workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// One member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub member: Member,
}

/// Members of a workspace.
#[utoipa::path(
    get,
    path = "/workspaces/{id}/members",
    tag = "members",
    operation_id = "list_members",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    authorize(&state, &caller, &id, None, Action::READ, "/members").await?;
    let members = state.store.members(&id).await?;
    Ok(Json(MemberList { members }))
}

/// Change a member's role and/or project limits (admins; only owners touch
/// an owner's membership or grant the owner role; owners have every project).
#[utoipa::path(
    patch,
    path = "/workspaces/{id}/members/{user_id}",
    tag = "members",
    operation_id = "change_member",
    params(("id" = String, Path, description = "Workspace id"), ("user_id" = String, Path, description = "Member's user id")),
    request_body(content((MemberChange = "application/json"), (MemberChange = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The member, changed", body = MemberBody),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    input: Input<MemberChange>,
) -> Result<Json<MemberBody>, ApiError> {
    let MemberChange { role, projects } = input.value;
    if role.is_none() && projects.is_none() {
        return Err(ApiError::field(
            ProblemCode::MissingField,
            "role",
            "give `role`, `projects`, or both",
        ));
    }
    let role = role.map(|r| input::role(Some(r), "role")).transpose()?;
    let allowed = authorize(&state, &caller, &id, None, Action::ADMIN, "/members").await?;
    if role == Some(Role::Owner) {
        owner_only(
            &state,
            &caller,
            &allowed,
            "grant or take away the owner role",
        )
        .await?;
    }
    // Whether the member is an owner is decided by the store, under the
    // workspace lock, so a promotion racing this cannot slip past.
    let change = crate::store::members::MemberChange { role, projects };
    let by_owner = allowed.role == Role::Owner;
    let changed = state
        .store
        .change_member_by(&id, &user_id, &change, by_owner, caller.meta())
        .await;
    owner_checked(&state, &caller, &allowed, changed).await?;
    let member = state
        .store
        .members(&id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok(Json(MemberBody { member }))
}

/// Remove a member, or leave (one's own user id). The API keys of this
/// workspace behind them and the pending invitations they sent are revoked
/// with them; the answer names each.
#[utoipa::path(
    delete,
    path = "/workspaces/{id}/members/{user_id}",
    tag = "members",
    operation_id = "remove_member",
    params(("id" = String, Path, description = "Workspace id"), ("user_id" = String, Path, description = "Member's user id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Removed, and what went with them", body = Removal),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Json<Removal>, ApiError> {
    // Leaving needs no admin right, only membership.
    let action = if caller.user_id() == Some(user_id.as_str()) {
        Action::READ
    } else {
        Action::ADMIN
    };
    let allowed = authorize(&state, &caller, &id, None, action, "/members").await?;
    // Whether the member is an owner is decided by the store, under the
    // workspace lock.
    let by_owner = allowed.role == Role::Owner;
    let removal = state
        .store
        .remove_member_by(&id, &user_id, by_owner, caller.meta())
        .await;
    Ok(Json(
        owner_checked(&state, &caller, &allowed, removal).await?,
    ))
}
