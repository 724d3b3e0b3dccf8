//! Workspaces, members and invitations.

use super::AppState;
use super::actor::Actor;
use super::auth::normalise_email;
use super::authz::authorize;
use super::error::ApiError;
use super::input::Input;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wrnexus_policies::{Action, Role};

/// Longest workspace name, in characters.
pub const MAX_NAME: usize = 100;

#[derive(Debug, Deserialize)]
pub struct NewWorkspace {
    name: Option<String>,
    parent_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct RoleChange {
    role: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NewInvitation {
    email: Option<String>,
    role: Option<String>,
}

fn parse_role(value: Option<String>) -> Result<Role, ApiError> {
    let value = value.ok_or_else(|| ApiError::missing("role"))?;
    value.parse().map_err(|_| {
        ApiError::field(
            "invalid_role",
            "role",
            format!("`role` must be owner, admin, member or viewer, not `{value}`"),
        )
    })
}

fn only_owners_grant_owner(actor_role: Role) -> Result<(), ApiError> {
    if actor_role == Role::Owner {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "owner_required",
            "only an owner can grant or take away the owner role",
        ))
    }
}

/// Hash an invitation token for storage and lookup.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

pub async fn list(State(state): State<AppState>, actor: Actor) -> Result<Json<Value>, ApiError> {
    let workspaces = state.store.workspaces_of(&actor.user_id).await?;
    Ok(Json(json!({ "workspaces": workspaces })))
}

pub async fn create(
    State(state): State<AppState>,
    actor: Actor,
    input: Input<NewWorkspace>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if input.value.parent_id.is_some() {
        return Err(ApiError::field(
            "workspaces_are_flat",
            "parent_id",
            "workspaces cannot be nested: `parent_id` is not accepted",
        ));
    }
    let name = input
        .value
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "invalid_name",
            "name",
            format!("`name` must be at most {MAX_NAME} printable characters"),
        ));
    }
    let workspace = state
        .store
        .create_team_workspace(&actor.user_id, &name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "workspace": workspace, "role": Role::Owner })),
    ))
}

pub async fn members(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &actor, &id, Action::READ, "GET", "/members").await?;
    let members = state.store.members(&id).await?;
    Ok(Json(json!({ "members": members })))
}

pub async fn change_role(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
    input: Input<RoleChange>,
) -> Result<Json<Value>, ApiError> {
    let role = parse_role(input.value.role)?;
    let actor_role = authorize(&state, &actor, &id, Action::ADMIN, "PATCH", "/members").await?;
    let current = state
        .store
        .role_of(&id, &user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if role == Role::Owner || current == Role::Owner {
        only_owners_grant_owner(actor_role)?;
    }
    state.store.set_role(&id, &user_id, role).await?;
    Ok(Json(json!({ "user_id": user_id, "role": role })))
}

pub async fn remove_member(
    State(state): State<AppState>,
    actor: Actor,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if user_id == actor.user_id {
        // Leaving needs no admin right, only membership.
        authorize(&state, &actor, &id, Action::READ, "DELETE", "/members").await?;
    } else {
        let actor_role =
            authorize(&state, &actor, &id, Action::ADMIN, "DELETE", "/members").await?;
        let current = state
            .store
            .role_of(&id, &user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("member"))?;
        if current == Role::Owner {
            only_owners_grant_owner(actor_role)?;
        }
    }
    state.store.remove_member(&id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn invite(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    input: Input<NewInvitation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = normalise_email(
        &input
            .value
            .email
            .ok_or_else(|| ApiError::missing("email"))?,
    )?;
    let role = parse_role(input.value.role.or_else(|| Some("member".to_string())))?;
    let actor_role = authorize(&state, &actor, &id, Action::ADMIN, "POST", "/invitations").await?;
    if role == Role::Owner {
        only_owners_grant_owner(actor_role)?;
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let invitation = state
        .store
        .create_invitation(
            &id,
            &email,
            role,
            &actor.user_id,
            &token_hash(&token),
            state.config.invitation_ttl_secs,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "invitation": invitation, "token": token })),
    ))
}

pub async fn accept(
    State(state): State<AppState>,
    actor: Actor,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let invitation = state
        .store
        .accept_invitation(&token_hash(&token), &actor.user_id, &actor.email)
        .await?;
    Ok(Json(
        json!({ "workspace_id": invitation.workspace_id, "role": invitation.role }),
    ))
}
