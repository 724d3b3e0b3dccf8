//! Who is calling a workspace endpoint: a signed-in user (session cookie or
//! the session token as a Bearer) or an API key (`Authorization: Bearer
//! wrn_…`), which acts only in its own workspace.

use super::AppState;
use super::actor::Actor;
use super::error::ApiError;
use super::meta::RequestMeta;
use crate::store::api_keys::{ApiKey, KEY_PREFIX};
use crate::store::audit::{ActorKind, Meta};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use wrnexus_contract::ProblemCode;

/// A user or an API key.
#[derive(Debug, Clone)]
pub enum Caller {
    User(Actor),
    Key { key: ApiKey, meta: Meta },
}

impl Caller {
    /// The request, as audit rows record it, with this caller as the actor.
    pub fn meta(&self) -> &Meta {
        match self {
            Caller::User(actor) => &actor.meta,
            Caller::Key { meta, .. } => meta,
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User(actor) => Some(&actor.user_id),
            Caller::Key { .. } => None,
        }
    }
}

/// The API key of a request, if it carries one.
fn bearer_key(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| t.starts_with(KEY_PREFIX))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer_key(parts).map(str::to_string) else {
            return Ok(Caller::User(Actor::from_request_parts(parts, state).await?));
        };
        let RequestMeta(meta) = RequestMeta::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        match state.store.authenticate_api_key(&token, &meta).await? {
            Ok(key) => Ok(Caller::Key {
                meta: meta.with_actor(ActorKind::ApiKey, &key.id),
                key,
            }),
            Err(_) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::InvalidApiKey,
                "the API key is unknown, revoked or expired",
            )),
        }
    }
}

/// Endpoints that act for a person (accepting an invitation, listing "my"
/// workspaces) refuse API keys.
pub fn person(caller: Caller) -> Result<Actor, ApiError> {
    match caller {
        Caller::User(actor) => Ok(actor),
        Caller::Key { .. } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::UserRequired,
            "this endpoint acts for a person; an API key cannot use it",
        )),
    }
}
