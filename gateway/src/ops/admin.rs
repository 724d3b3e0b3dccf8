//! The admin listener: `/live`, `/ready`, `/metrics`.

use crate::ops::metrics::Metrics;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Readiness check: true once the gateway can verify sessions.
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// The admin routes.
pub fn router(metrics: Metrics, ready: ReadyCheck) -> Router {
    Router::new()
        .route("/live", get(|| async { "ok\n" }))
        .route(
            "/ready",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready() {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: no signing keys yet\n",
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
pub async fn serve(listener: TcpListener, metrics: Metrics, ready: ReadyCheck) {
    if let Err(e) = axum::serve(listener, router(metrics, ready)).await {
        tracing::error!(error = %e, "admin listener stopped");
    }
}
