//! `GET /v1/health`: up, and the database answers. Load balancers and
//! Kubernetes probe it; a control plane that cannot reach its database
//! says so with 503 instead of taking requests it would fail.

use super::AppState;
use super::error::ApiError;
use super::responses as doc;
use axum::extract::State;
use axum::http::StatusCode;
use wrnexus_contract::ProblemCode;

/// Health: the database answered a trivial query in time.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    operation_id = "health",
    responses(
        (status = 200, description = "The control plane is up and its database answers", body = String, content_type = "text/plain"),
        (status = 503, response = doc::Unavailable)
    )
)]
pub async fn health(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok("ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ProblemCode::BackendUnavailable,
                "the database does not answer",
            ))
        }
    }
}
