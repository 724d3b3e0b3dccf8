//! Sessions per device, for the signed-in person (an API key is refused):
//! `GET /account/sessions` lists their live sessions (where each started,
//! with what, when last seen, the current one marked) and
//! `DELETE /account/sessions/{session_id}` ends one of them, pushed to
//! every gateway; ending the current one also clears its cookie.

use super::AppState;
use super::auth::session_cookie;
use super::caller::{Caller, person};
use super::error::ApiError;
use super::responses as doc;
use crate::store::devices::DeviceSession;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The caller's live sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<DeviceSession>,
}

/// The caller's live sessions.
#[utoipa::path(
    get,
    path = "/account/sessions",
    tag = "account",
    operation_id = "list_sessions",
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 200, description = "The live sessions, newest first; `current` marks this one", body = SessionList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SessionList>, ApiError> {
    let actor = person(caller)?;
    let sessions = state
        .store
        .device_sessions(&actor.user_id, &actor.session_id)
        .await?;
    Ok(Json(SessionList { sessions }))
}

/// End one of the caller's own sessions; every gateway refuses it from
/// the next request on. Another person's session is not found.
#[utoipa::path(
    delete,
    path = "/account/sessions/{session_id}",
    tag = "account",
    operation_id = "end_session",
    params(("session_id" = String, Path, description = "Session id")),
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 204, description = "Ended (the cookie is cleared when it was this session)"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> Result<Response, ApiError> {
    let actor = person(caller)?;
    state
        .store
        .end_own_session(&actor.user_id, &session_id, &actor.meta)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if session_id == actor.session_id {
        let cleared = session_cookie(&state, String::new(), 0)?;
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    Ok(response)
}
