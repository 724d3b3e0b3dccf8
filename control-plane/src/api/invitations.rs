//! Invitations by email: invite (the link is mailed), list the open ones,
//! resend (a new link; the old one stops working), revoke; and, for
//! whoever holds a link, preview, accept (signed in as the invited email)
//! or decline. The invitation page itself is [`super::invitation_page`].

use super::AppState;
use super::auth::normalise_email;
use super::authz::{authorize, owner_only};
use super::caller::{Caller, person};
use super::error::ApiError;
use super::input::{self, Input};
use super::meta::RequestMeta;
use super::pages::invitation::page_path;
use super::responses as doc;
use crate::store::audit::ActorKind;
use crate::store::invitation_admin::OpenInvitation;
use crate::store::invitations::{Invitation, InvitationPreview, NewInvitation as Invite};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use wrnexus_policies::{Action, Role};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewInvitation {
    email: Option<String>,
    role: Option<String>,
}

/// A new invitation and its token, shown this once (it is also mailed).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation: Invitation,
    pub token: String,
}

/// The workspace joined, and the role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationAccepted {
    pub workspace_id: String,
    pub role: Role,
}

/// The open invitations of a workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<OpenInvitation>,
}

/// Hash an invitation token for storage and lookup.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token (256 random bits, URL-safe) and its hash.
fn new_token() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = token_hash(&token);
    (token, hash)
}

/// Count an invitation mailed (sent or resent) by the caller, per acting
/// user or API key and per client address: `429` past the allowance.
async fn limit_mail(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let meta = caller.meta();
    let actor = meta.actor_id.as_deref().unwrap_or_default();
    state.limits.invite(actor, meta.ip.as_deref()).await
}

/// Invite someone by email (admins): the link is mailed to them.
#[utoipa::path(
    post,
    path = "/workspaces/{id}/invitations",
    tag = "invitations",
    operation_id = "create_invitation",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((NewInvitation = "application/json"), (NewInvitation = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The invitation and its token, shown once; the link is mailed", body = InvitationCreated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 429, response = doc::TooManyRequests)
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<NewInvitation>,
) -> Result<(StatusCode, Json<InvitationCreated>), ApiError> {
    let email = normalise_email(
        &input
            .value
            .email
            .ok_or_else(|| ApiError::missing("email"))?,
    )?;
    let role = input::role(input.value.role.or_else(|| Some("member".into())), "role")?;
    let allowed = authorize(&state, &caller, &id, None, Action::ADMIN, "/invitations").await?;
    if role == Role::Owner {
        owner_only(&state, &caller, &allowed, "invite an owner").await?;
    }
    limit_mail(&state, &caller).await?;
    let (token, hash) = new_token();
    let link = state.config.link(&page_path(&token));
    let new = Invite {
        workspace_id: &id,
        email: &email,
        role,
        token_hash: &hash,
        ttl_secs: state.config.invitation_ttl_secs,
        link: Some(&link),
    };
    let invitation = state.store.invite(&new, caller.meta()).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated { invitation, token }),
    ))
}

/// The open invitations of a workspace (admins): pending, and expired ones
/// a resend opens again.
#[utoipa::path(
    get,
    path = "/workspaces/{id}/invitations",
    tag = "invitations",
    operation_id = "list_invitations",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The open invitations, newest first", body = InvitationList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<InvitationList>, ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/invitations").await?;
    let invitations = state.store.open_invitations(&id).await?;
    Ok(Json(InvitationList { invitations }))
}

/// The open invitation `invitation_id`, which only an owner may touch when
/// it invites an owner.
async fn open_one(
    state: &AppState,
    caller: &Caller,
    id: &str,
    invitation_id: &str,
) -> Result<OpenInvitation, ApiError> {
    let allowed = authorize(state, caller, id, None, Action::ADMIN, "/invitations").await?;
    let open = state
        .store
        .open_invitations(id)
        .await?
        .into_iter()
        .find(|i| i.id == invitation_id)
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if open.role == Role::Owner {
        owner_only(
            state,
            caller,
            &allowed,
            "resend or revoke an owner's invitation",
        )
        .await?;
    }
    Ok(open)
}

/// Mail an open invitation again (admins), under a new link: the old link
/// stops working, and the expiry starts over.
#[utoipa::path(
    post,
    path = "/workspaces/{id}/invitations/{invitation_id}/resend",
    tag = "invitations",
    operation_id = "resend_invitation",
    params(("id" = String, Path, description = "Workspace id"), ("invitation_id" = String, Path, description = "Invitation id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "Mailed again", body = OpenInvitation),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 429, response = doc::TooManyRequests)
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<OpenInvitation>), ApiError> {
    open_one(&state, &caller, &id, &invitation_id).await?;
    limit_mail(&state, &caller).await?;
    let (token, hash) = new_token();
    let link = state.config.link(&page_path(&token));
    let resent = state
        .store
        .resend_invitation(
            &id,
            &invitation_id,
            &hash,
            state.config.invitation_ttl_secs,
            &link,
            caller.meta(),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(resent)))
}

/// Withdraw an open invitation (admins): its link says so from now on.
#[utoipa::path(
    delete,
    path = "/workspaces/{id}/invitations/{invitation_id}",
    tag = "invitations",
    operation_id = "revoke_invitation",
    params(("id" = String, Path, description = "Workspace id"), ("invitation_id" = String, Path, description = "Invitation id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    open_one(&state, &caller, &id, &invitation_id).await?;
    state
        .store
        .revoke_invitation(&id, &invitation_id, caller.meta())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an invitation link is about (anyone holding it): the workspace,
/// who it invites, to what role, and where it stands.
#[utoipa::path(
    get,
    path = "/invitations/{token}",
    tag = "invitations",
    operation_id = "preview_invitation",
    params(("token" = String, Path, description = "The invitation token")),
    security(()),
    responses(
        (status = 200, description = "The invitation", body = InvitationPreview),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<InvitationPreview>, ApiError> {
    state
        .store
        .invitation_preview(&token_hash(&token))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("invitation"))
}

/// Accept an invitation as the signed-in person (whose email it invites).
#[utoipa::path(
    post,
    path = "/invitations/{token}/accept",
    tag = "invitations",
    operation_id = "accept_invitation",
    params(("token" = String, Path, description = "The invitation token")),
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 200, description = "Joined", body = InvitationAccepted),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 429, response = doc::TooManyRequests)
    )
)]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<Json<InvitationAccepted>, ApiError> {
    let actor = person(caller)?;
    state
        .limits
        .accept(&actor.user_id, actor.meta.ip.as_deref())
        .await?;
    let invitation = state
        .store
        .accept_invitation(
            &token_hash(&token),
            &actor.user_id,
            &actor.email,
            &actor.meta,
        )
        .await?;
    Ok(Json(InvitationAccepted {
        workspace_id: invitation.workspace_id,
        role: invitation.role,
    }))
}

/// Decline an invitation (anyone holding the link may): it can no longer
/// be accepted.
#[utoipa::path(
    post,
    path = "/invitations/{token}/decline",
    tag = "invitations",
    operation_id = "decline_invitation",
    params(("token" = String, Path, description = "The invitation token")),
    security(()),
    responses(
        (status = 204, description = "Declined"),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn decline(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    let meta = meta.with_actor(ActorKind::Anonymous, "");
    state
        .store
        .decline_invitation(&token_hash(&token), &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
