//! The admin listener: `/live`, `/ready` (which also says whether the
//! policy sets in force are proven), `/metrics`.

use crate::ops::metrics::Metrics;
use crate::ops::readiness::Readiness;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How the proofs of the policy sets in force went, a line each, for the
/// `/ready` body (proofs off is not unready: the invariants are sampled).
pub type ProofsReport = Arc<dyn Fn() -> String + Send + Sync>;

/// The admin routes.
pub fn router(metrics: Metrics, ready: Arc<Readiness>, proofs: ProofsReport) -> Router {
    Router::new()
        .route("/live", get(|| async { "ok\n" }))
        .route(
            "/ready",
            get(move || {
                let (ready, proofs) = (ready.clone(), proofs.clone());
                async move {
                    let missing = ready.missing();
                    if missing.is_empty() {
                        (StatusCode::OK, format!("ready\n{}", proofs()))
                    } else {
                        let missing = missing.join("; ");
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {missing}\n{}", proofs()),
                        )
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                        .into_response()
                }
            }),
        )
}

/// Serve the admin routes until the process ends.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    ready: Arc<Readiness>,
    proofs: ProofsReport,
) {
    if let Err(e) = axum::serve(listener, router(metrics, ready, proofs)).await {
        tracing::error!(error = %e, "admin listener stopped");
    }
}
