//! What gateways ask the control plane: public keys and, on a cache miss,
//! the decision data of one request.

use super::AppState;
use super::actor::session_token;
use super::error::ApiError;
use super::openapi::schemas as doc;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use wrnexus_policies::DecisionData;

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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionDataQuery {
    workspace_id: Option<String>,
}

/// Decision data for the bearer's session, user, and membership in
/// `workspace_id`. The bearer is the session token the gateway verified:
/// callers only ever learn about themselves. Revoked sessions are still
/// answered (as revoked) so that gateways can cache the refusal.
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
