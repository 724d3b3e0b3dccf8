//! A small app behind a WRNexus gateway: every page shows the verified
//! workspace context of the request; `/admin` needs admin or owner;
//! `/healthz` is open (for load balancers).
//!
//! ```sh
//! cargo run -p wrnexus-sdk --example app -- --listen 127.0.0.1:3000 \
//!   --jwks-url http://127.0.0.1:8080/.wrnexus/api/v1/assertion-keys \
//!   --audience wrnexus-upstream
//! ```

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use serde_json::json;
use wrnexus_sdk::{GatewayContext, GatewayLayer, Role, Verifier};

#[derive(Debug, Parser)]
#[command(about = "An example upstream app verifying WRNexus gateway assertions")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: String,
    /// The control plane's assertion JWKS, e.g.
    /// http://127.0.0.1:8080/.wrnexus/api/v1/assertion-keys
    #[arg(long, env = "WRNEXUS_JWKS_URL")]
    jwks_url: String,
    /// The gateway's `assertion_audience`.
    #[arg(long, env = "WRNEXUS_ASSERTION_AUDIENCE", default_value = wrnexus_sdk::DEFAULT_AUDIENCE)]
    audience: String,
}

/// Who is calling, in which workspace, with which role.
async fn whoami(ctx: GatewayContext) -> axum::Json<serde_json::Value> {
    axum::Json(json!({
        "principal": ctx.principal,
        "workspace_id": ctx.workspace_id,
        "role": ctx.role,
        "request_id": ctx.request_id,
        "assertion_expires_at": ctx.expires_at,
    }))
}

/// Only for admins and owners of the workspace.
async fn admin(ctx: GatewayContext) -> Response {
    if !ctx.role.at_least(Role::Admin) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": format!("{} may not administer", ctx.role)})),
        )
            .into_response();
    }
    axum::Json(json!({"admin_of": ctx.workspace_id})).into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let verifier = Verifier::remote(&args.jwks_url, &args.audience)?;
    // Not fatal: the keys are fetched again on the first request.
    if let Err(e) = verifier.prefetch().await {
        tracing::warn!(error = %e, "assertion keys not fetched yet");
    }
    let protected = Router::new()
        .route("/", get(whoami))
        .route("/admin", get(admin))
        .fallback(whoami)
        .layer(GatewayLayer::new(verifier));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(protected);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, audience = %args.audience, "example app ready");
    axum::serve(listener, app).await?;
    Ok(())
}
