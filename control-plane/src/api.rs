//! The HTTP face of the control plane: `app(state) -> Router`.

pub mod account;
pub mod actor;
pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bearer;
pub mod billing;
pub mod caller;
pub mod console;
pub mod csrf;
pub mod dev_mail;
pub mod error;
pub mod forwarded;
pub mod health;
pub mod input;
pub mod internal;
pub mod invitation_page;
pub mod invitations;
pub mod key_usage;
pub mod limits;
pub mod limits_shared;
pub mod members;
pub mod meta;
pub mod openapi;
pub mod operator;
pub mod pages;
pub mod permissions;
pub mod projects;
pub mod request_span;
pub mod responses;
pub mod sessions;
pub mod sign_in_policy;
pub mod sso;
pub mod sso_connections;
pub mod sso_discovery;
pub mod sso_domains;
pub mod sso_flow;
pub mod sso_logout;
pub mod sso_signout;
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
    /// Single sign-on: provider discovery and the clients that fetch it.
    pub sso: Arc<crate::sso::state::SsoState>,
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
        .route(
            "/workspaces/{id}/permissions",
            get(permissions::permissions),
        )
        .route("/workspaces/{id}/members", get(members::list))
        .route(
            "/workspaces/{id}/members/{user_id}",
            delete(members::remove).patch(members::change),
        )
        .route(
            "/workspaces/{id}/invitations",
            get(invitations::list).post(invitations::invite),
        )
        .route(
            "/workspaces/{id}/invitations/{invitation_id}",
            delete(invitations::revoke),
        )
        .route(
            "/workspaces/{id}/invitations/{invitation_id}/resend",
            post(invitations::resend),
        )
        .route("/invitations/{token}", get(invitations::preview))
        .route("/invitations/{token}/accept", post(invitations::accept))
        .route("/invitations/{token}/decline", post(invitations::decline))
        .route("/account", get(account::get))
        .route("/account/email", post(account::change_email))
        .route("/account/password", post(account::change_password))
        .route("/account/verification", post(account::resend_verification))
        .route("/account/sessions", get(sessions::list))
        .route("/account/sessions/{session_id}", delete(sessions::end))
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
        .route(
            "/workspaces/{id}/sso/domains",
            get(sso_domains::list).post(sso_domains::add),
        )
        .route(
            "/workspaces/{id}/sso/domains/{domain_id}",
            delete(sso_domains::remove),
        )
        .route(
            "/workspaces/{id}/sso/domains/{domain_id}/verify",
            post(sso_domains::verify),
        )
        .route(
            "/workspaces/{id}/sign-in-policy",
            get(sign_in_policy::get).put(sign_in_policy::put),
        )
        .route(
            "/workspaces/{id}/sso/connection",
            get(sso_connections::get)
                .put(sso_connections::put)
                .delete(sso_connections::delete),
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

/// Count and time every request by route template (one `unmatched` series
/// for every path no route knows), method and status.
async fn count_requests(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = crate::metrics::method_label(request.method());
    let matched = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    if let Some(m) = crate::metrics::metrics() {
        let route = crate::metrics::route_label(matched.as_deref());
        m.api_requests
            .with_label_values(&[route, method, response.status().as_str()])
            .inc();
        m.api_request_seconds
            .with_label_values(&[route])
            .observe(started.elapsed().as_secs_f64());
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
                pool: crate::metrics::PoolReading::of(state.store.pool()),
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
        .route(
            "/.wrnexus/verify-email",
            get(account::links::verify_page).post(account::links::verify),
        )
        .route(
            "/.wrnexus/verify-email/resend",
            post(account::links::resend),
        )
        .route(
            "/.wrnexus/forgot-password",
            get(account::links::forgot_page).post(account::links::forgot),
        )
        .route(
            "/.wrnexus/reset-password",
            get(account::links::reset_page).post(account::links::reset),
        )
        .route("/.wrnexus/sso/start", get(sso::start))
        .route("/.wrnexus/sso/callback", get(sso::callback))
        .route(
            "/.wrnexus/sso/backchannel-logout/{connection_id}",
            post(sso::logout_connection),
        )
        .route(
            "/.wrnexus/sso/backchannel-logout/instance/{name}",
            post(sso::logout_instance),
        )
        .route("/.wrnexus/whoami", get(auth::whoami))
        .route("/.wrnexus/switch", post(auth::switch))
        .route("/.wrnexus/switcher.js", get(assets::switcher))
        .route("/.wrnexus/sso/discover", get(sso_discovery::discover))
        .route("/.wrnexus/sso/signin.js", get(sso_discovery::signin_script))
        .route("/.wrnexus/invitations/{token}", get(invitation_page::page))
        .route(
            "/.wrnexus/invitations/{token}/accept",
            post(invitation_page::accept),
        )
        .route(
            "/.wrnexus/invitations/{token}/decline",
            post(invitation_page::decline),
        )
        .merge(console::routes())
        .route("/.wrnexus/logo", get(assets::logo))
        .route("/.wrnexus/dev/mail", get(dev_mail::list))
        .route("/.wrnexus/dev/mail/{id}", get(dev_mail::show))
        .route("/metrics", get(metrics_text))
        .nest("/v1", v1())
        .nest("/.wrnexus/api/v1", v1())
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::same_origin_writes,
        ))
        .layer(axum::middleware::from_fn(count_requests))
        .layer(axum::middleware::from_fn(request_span::trace_request))
        .with_state(state)
}
