//! Who is calling: the session cookie (or the same token as a Bearer), checked
//! against the store so that a revoked session or disabled user stops at once.

use super::AppState;
use super::error::ApiError;
use super::meta::RequestMeta;
use crate::store::audit::{ActorKind, Meta};
use crate::store::now;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use wrnexus_policies::SessionClaims;

/// An authenticated user with a live session.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub email: String,
    /// The person proved they own `email` (`users.email_verified_at`):
    /// what Cedar reads as `context.email_verified` for their calls.
    pub email_verified: bool,
    pub session_id: String,
    /// The workspace the session currently names.
    pub workspace_id: String,
    pub claims: SessionClaims,
    /// The request, as audit rows record it, with this user as the actor.
    pub meta: Meta,
}

/// The session token of a request: `Authorization: Bearer` or the cookie.
pub fn session_token(headers: &HeaderMap, cookie_name: &str) -> Option<String> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = auth.strip_prefix("Bearer ")
    {
        return Some(token.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == cookie_name)
        .map(|c| c.value().to_string())
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = session_token(&parts.headers, &state.config.cookie_name)
            .ok_or_else(ApiError::unauthenticated)?;
        let claims = state
            .keys
            .verify(&token)
            .map_err(|_| ApiError::unauthenticated())?;
        let session = state.store.session(&claims.sid).await?;
        let live =
            session.is_some_and(|s| !s.revoked && s.user_id == claims.sub && s.expires_at > now());
        if !live {
            return Err(ApiError::unauthenticated());
        }
        let user = state
            .store
            .user(&claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(ApiError::unauthenticated)?;
        let RequestMeta(meta) = RequestMeta::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        Ok(Actor {
            meta: meta
                .with_actor(ActorKind::User, &user.id)
                .with_session(&claims.sid),
            user_id: user.id,
            email: user.email,
            email_verified: user.email_verified,
            session_id: claims.sid.clone(),
            workspace_id: claims.wid.clone(),
            claims,
        })
    }
}
