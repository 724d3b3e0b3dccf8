//! What gateways ask the control plane: public keys and, on a cache miss,
//! the decision data of one request.

use super::AppState;
use super::actor::session_token;
use super::error::ApiError;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use wrnexus_policies::DecisionData;

/// The public signing keys (JWKS).
pub async fn keys(State(state): State<AppState>) -> Json<jsonwebtoken::jwk::JwkSet> {
    Json(state.keys.jwks().clone())
}

#[derive(Debug, Deserialize)]
pub struct DecisionDataQuery {
    workspace_id: Option<String>,
}

/// Decision data for the bearer's session, user, and membership in
/// `workspace_id`. The bearer is the session token the gateway verified:
/// callers only ever learn about themselves. Revoked sessions are still
/// answered (as revoked) so that gateways can cache the refusal.
pub async fn decision_data(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DecisionDataQuery>,
) -> Result<Json<DecisionData>, ApiError> {
    let token =
        session_token(&headers, &state.config.cookie_name).ok_or_else(ApiError::unauthenticated)?;
    let claims = state
        .keys
        .verify(&token)
        .map_err(|_| ApiError::unauthenticated())?;
    let workspace_id = q.workspace_id.unwrap_or_else(|| claims.wid.clone());
    let data = state
        .store
        .decision_data(&claims.sid, &claims.sub, &workspace_id)
        .await?;
    state.store.pusher().fill(&data).await;
    Ok(Json(data))
}
