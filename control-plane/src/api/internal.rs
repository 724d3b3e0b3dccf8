//! What gateways ask the control plane: public keys and, on a cache miss,
//! the decision data of one request.

use super::AppState;
use super::actor::session_token;
use super::error::ApiError;
use super::responses as doc;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{DecisionData, Entry, api_key};

/// The public signing keys (JWKS).
#[utoipa::path(
    get,
    path = "/keys",
    tag = "internal",
    operation_id = "jwks",
    responses(
        (status = 200, description = "The JWK set", body = doc::Jwks)
    )
)]
pub async fn keys(State(state): State<AppState>) -> Json<jsonwebtoken::jwk::JwkSet> {
    Json(state.keys.jwks().clone())
}

/// The public key(s) of the gateways' `X-WRNexus-Assertion` JWTs (JWKS),
/// for upstream apps that verify it.
#[utoipa::path(
    get,
    path = "/assertion-keys",
    tag = "internal",
    operation_id = "assertion_jwks",
    responses(
        (status = 200, description = "The JWK set", body = doc::Jwks),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn assertion_keys(
    State(state): State<AppState>,
) -> Result<Json<jsonwebtoken::jwk::JwkSet>, ApiError> {
    match &state.config.assertion_key {
        Some(key) => Ok(Json(key.jwks())),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            ProblemCode::AssertionsOff,
            "gateways do not sign assertions: set WRNEXUS_ASSERTION_KEY to turn them on",
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionDataQuery {
    /// The workspace of the request (sessions; default: the session's).
    workspace_id: Option<String>,
    /// The project the request names: its entry is answered too (the
    /// workspace it is in and whether it is archived, or `Missing`).
    project_id: Option<String>,
}

/// Decision data for the bearer's session, user, and membership in
/// `workspace_id` — or, when the bearer is an API key, the key's entry and
/// its workspace's — and, with `project_id`, that project's entry
/// (`wrnexus:{p:<id>}:project`: its workspace and whether it is archived,
/// whichever workspace it is in, or `Missing`). The bearer is the
/// credential the gateway was shown: callers only ever learn about
/// themselves, and of a project only where it is and whether it is
/// archived. Revoked sessions are still answered (as revoked) so that
/// gateways can cache the refusal.
#[utoipa::path(
    get,
    path = "/internal/decision-data",
    tag = "internal",
    operation_id = "decision_data",
    params(DecisionDataQuery),
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 200, description = "Versioned decision entries", body = doc::DecisionData),
        (status = 401, response = doc::Unauthorized)
    )
)]
pub async fn decision_data(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DecisionDataQuery>,
) -> Result<Json<DecisionData>, ApiError> {
    let token =
        session_token(&headers, &state.config.cookie_name).ok_or_else(ApiError::unauthenticated)?;
    if let Some((key_id, secret)) = api_key::parse(&token) {
        // An API key: its entry (revoked or not, so gateways cache the
        // refusal) and its own workspace's. Only the bearer of the key's
        // full token learns about it.
        let data = state
            .store
            .key_decision_data(key_id, q.project_id.as_deref())
            .await?;
        let known = data.entries.values().any(|e| {
            matches!(&e.entry, Entry::ApiKey { secret_hash, .. }
                if api_key::secret_matches(secret_hash, secret))
        });
        if !known {
            return Err(ApiError::unauthenticated());
        }
        state.store.pusher().fill(&data).await;
        return Ok(Json(data));
    }
    let claims = state
        .keys
        .verify(&token)
        .map_err(|_| ApiError::unauthenticated())?;
    let workspace_id = q.workspace_id.unwrap_or_else(|| claims.wid.clone());
    let data = state
        .store
        .decision_data(
            &claims.sid,
            &claims.sub,
            &workspace_id,
            q.project_id.as_deref(),
        )
        .await?;
    state.store.pusher().fill(&data).await;
    Ok(Json(data))
}
