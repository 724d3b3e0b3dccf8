//! The HTTP face of the control plane: `app(state) -> Router`.

pub mod actor;
pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bearer;
pub mod billing;
pub mod caller;
pub mod csrf;
pub mod error;
pub mod forwarded;
pub mod health;
pub mod input;
pub mod internal;
pub mod key_usage;
pub mod limits;
pub mod limits_shared;
pub mod members;
pub mod meta;
pub mod openapi;
pub mod operator;
pub mod pages;
pub mod projects;
pub mod responses;
pub mod webhooks;
pub mod workspaces;

use crate::config::ControlPlaneConfig;
use crate::store::Store;
use crate::tokens::Keys;
use axum::Router;
use axum::routing::{delete, get, patch, post};
use error::ApiError;
use std::sync::Arc;
use wrnexus_policies::PolicyEngine;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub policies: Arc<PolicyEngine>,
    pub config: Arc<ControlPlaneConfig>,
    pub limits: Arc<limits::Limiters>,
    /// The Stripe API, when a key is configured.
    pub stripe: Option<crate::billing::stripe_api::StripeApi>,
}

/// The JSON API, served under `/v1` and, through the gateway, `/.wrnexus/api/v1`.
fn v1() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::document))
        .route("/keys", get(internal::keys))
        .route("/assertion-keys", get(internal::assertion_keys))
        .route("/internal/decision-data", get(internal::decision_data))
        .route("/internal/key-usage", post(key_usage::report))
        .route(
            "/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/workspaces/{id}",
            get(workspaces::get)
                .patch(workspaces::rename)
                .delete(workspaces::delete),
        )
        .route("/workspaces/{id}/transfer", post(workspaces::transfer))
        .route("/workspaces/{id}/members", get(members::list))
        .route(
            "/workspaces/{id}/members/{user_id}",
            delete(members::remove).patch(members::change),
        )
        .route("/workspaces/{id}/invitations", post(members::invite))
        .route("/invitations/{token}/accept", post(members::accept))
        .route(
            "/workspaces/{id}/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/workspaces/{id}/projects/{project_id}",
            patch(projects::update),
        )
        .route(
            "/workspaces/{id}/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/workspaces/{id}/api-keys/{key_id}",
            delete(api_keys::revoke),
        )
        .route("/workspaces/{id}/audit", get(audit::list))
        .route("/workspaces/{id}/audit/export", get(audit::export))
        .route(
            "/workspaces/{id}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/workspaces/{id}/webhooks/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/workspaces/{id}/webhooks/{endpoint_id}",
            delete(webhooks::delete),
        )
        .route(
            "/workspaces/{id}/webhooks/{endpoint_id}/test",
            post(webhooks::test),
        )
        .route("/workspaces/{id}/billing", get(billing::view))
        .route("/workspaces/{id}/billing/checkout", post(billing::checkout))
        .route("/workspaces/{id}/billing/portal", post(billing::portal))
        .route("/billing/stripe/webhook", post(billing::stripe_webhook))
        .route("/operator/workspaces/{id}/suspend", post(operator::suspend))
        .route("/operator/users/{id}/disable", post(operator::disable_user))
        .route(
            "/operator/workspaces/{id}/reactivate",
            post(operator::reactivate),
        )
}

/// Count every request by route template (one `unmatched` series for
/// every path no route knows), method and status.
async fn count_requests(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = crate::metrics::method_label(request.method());
    let matched = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string());
    let response = next.run(request).await;
    if let Some(m) = crate::metrics::metrics() {
        let route = crate::metrics::route_label(matched.as_deref());
        m.api_requests
            .with_label_values(&[route, method, response.status().as_str()])
            .inc();
    }
    response
}

/// The Prometheus exposition, with the outbox and the pusher's count read
/// from the store now.
async fn metrics_text(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    let body = match crate::metrics::metrics() {
        Some(m) => {
            let now = crate::store::now();
            let outbox = match state.store.outbox_backlog().await {
                Ok((depth, oldest)) => Some((depth, oldest.map_or(0, |t| (now - t).max(0)))),
                Err(_) => None,
            };
            let pusher = state.store.pusher();
            m.render(&crate::metrics::Readings {
                outbox,
                published: (pusher.bus(), pusher.published()),
            })
        }
        None => String::new(),
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
}

/// Every route of the control plane.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/.wrnexus/signin",
            get(auth::signin_page).post(auth::signin),
        )
        .route(
            "/.wrnexus/signup",
            get(auth::signup_page).post(auth::signup),
        )
        .route("/.wrnexus/signout", post(auth::signout))
        .route("/.wrnexus/whoami", get(auth::whoami))
        .route("/.wrnexus/switch", post(auth::switch))
        .route("/.wrnexus/switcher.js", get(assets::switcher))
        .route("/.wrnexus/logo", get(assets::logo))
        .route("/metrics", get(metrics_text))
        .nest("/v1", v1())
        .nest("/.wrnexus/api/v1", v1())
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::same_origin_writes,
        ))
        .layer(axum::middleware::from_fn(count_requests))
        .with_state(state)
}
