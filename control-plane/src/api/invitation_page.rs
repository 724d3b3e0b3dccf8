//! The page an invitation's link opens (`/.wrnexus/invitations/{token}`):
//! the workspace, who invited, to what role. Signed in as the invited
//! email: Accept (joins, switches the session there, 303 into it) or
//! Decline. Signed out: sign in or create an account with the invited
//! email, coming back here. Signed in as someone else: said plainly, with
//! a way out. A link that is used, declined, withdrawn, expired or unknown
//! says which.

use super::AppState;
use super::actor::Actor;
use super::auth::session_cookie;
use super::error::ApiError;
use super::invitations::token_hash;
use super::meta::RequestMeta;
use super::pages::invitation::{context, status_code};
use super::pages::{Page, keep_link_private};
use crate::store::audit::ActorKind;
use crate::store::invitations::InvitationPreview;
use crate::store::now;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use wrnexus_policies::SessionClaims;

/// Render the page for `token`, keeping its link private.
fn render(
    state: &AppState,
    token: &str,
    preview: Option<&InvitationPreview>,
    actor: Option<&Actor>,
    error: Option<&ApiError>,
    declined_now: bool,
    code: StatusCode,
) -> Response {
    let pages = &state.config.pages;
    let context = context(
        token,
        preview,
        actor.map(|a| a.email.as_str()),
        error.map(|e| super::pages::sentence(&e.detail)),
        declined_now,
        pages.logo().is_some(),
    );
    keep_link_private(match pages.render(Page::Invitation.template(), context) {
        Ok(body) => (code, Html(body)).into_response(),
        Err(e) => {
            pages.log_error(&e);
            ApiError::internal().into_response()
        }
    })
}

async fn preview(state: &AppState, token: &str) -> Result<Option<InvitationPreview>, ApiError> {
    Ok(state.store.invitation_preview(&token_hash(token)).await?)
}

/// `GET /.wrnexus/invitations/{token}`: never changes anything (mail
/// scanners open links).
pub async fn page(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let preview = preview(&state, &token).await?;
    let code = status_code(preview.as_ref().map(|p| p.status));
    Ok(render(
        &state,
        &token,
        preview.as_ref(),
        actor.ok().as_ref(),
        None,
        false,
        code,
    ))
}

/// `POST /.wrnexus/invitations/{token}/accept`: join, move the session
/// into the workspace and go there (303); a refusal is shown on the page.
pub async fn accept(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let preview = preview(&state, &token).await?;
    let actor = match actor {
        Ok(a) => a,
        Err(e) => {
            let page = render(
                &state,
                &token,
                preview.as_ref(),
                None,
                Some(&e),
                false,
                e.status,
            );
            return Ok(page);
        }
    };
    let joined = async {
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
        into_workspace(&state, &actor, &invitation.workspace_id).await
    }
    .await;
    Ok(joined.unwrap_or_else(|e| {
        render(
            &state,
            &token,
            preview.as_ref(),
            Some(&actor),
            Some(&e),
            false,
            e.status,
        )
    }))
}

/// A 303 to `/` with the session moved into `workspace_id` (same session,
/// new workspace, recorded as the last used).
async fn into_workspace(
    state: &AppState,
    actor: &Actor,
    workspace_id: &str,
) -> Result<Response, ApiError> {
    let session = state
        .store
        .session(&actor.session_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let claims = SessionClaims {
        wid: workspace_id.to_string(),
        iat: now(),
        exp: session.expires_at,
        // How and when the person signed in, as the session row says
        // (never carried over from the cookie being replaced).
        amr: session.signed_in.amr.clone(),
        auth_time: session.signed_in.auth_time,
        sso_wid: session.signed_in.sso_workspace_id.clone(),
        ..actor.claims.clone()
    };
    let token = state.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing a session token failed");
        ApiError::internal()
    })?;
    state
        .store
        .switch_workspace(&actor.user_id, &actor.session_id, workspace_id, &actor.meta)
        .await?;
    let cookie = session_cookie(state, token, (session.expires_at - now()).max(0))?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `POST /.wrnexus/invitations/{token}/decline`: anyone holding the link
/// may; the page then says it was declined.
pub async fn decline(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    actor: Result<Actor, ApiError>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let actor = actor.ok();
    let meta = match &actor {
        Some(a) => a.meta.clone(),
        None => meta.with_actor(ActorKind::Anonymous, ""),
    };
    let declined = state
        .store
        .decline_invitation(&token_hash(&token), &meta)
        .await;
    let preview = preview(&state, &token).await?;
    Ok(match declined {
        Ok(_) => render(
            &state,
            &token,
            preview.as_ref(),
            actor.as_ref(),
            None,
            true,
            StatusCode::OK,
        ),
        Err(e) => {
            let e = ApiError::from(e);
            render(
                &state,
                &token,
                preview.as_ref(),
                actor.as_ref(),
                Some(&e),
                false,
                e.status,
            )
        }
    })
}
