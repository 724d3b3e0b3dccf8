//! Prometheus metrics of the control plane, served at `/metrics` on its
//! own listener: API requests, sign-in outcomes, invalidations published,
//! webhook deliveries, Stripe webhooks and billing, mail, and the outbox's
//! depth and age (read at scrape time).

use crate::store::Store;
use crate::store::work::Scope;
use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::sync::LazyLock;

/// Every metric; one set per process.
pub struct Metrics {
    registry: Registry,
    /// By route template (`unmatched` for every unknown path), method and status.
    pub api_requests: IntCounterVec,
    /// By outcome: `success`, `failure`, `rate_limited`.
    pub signins: IntCounterVec,
    pub invalidations_published: IntCounterVec,
    /// Webhook delivery attempts by result: `delivered`, `failed`, `dead`.
    pub webhook_deliveries: IntCounterVec,
    /// Stripe webhook deliveries by result: `accepted`, `duplicate`,
    /// `invalid_signature`, `stale_signature`, `invalid_event`, `disabled`, `error`.
    pub stripe_webhooks: IntCounterVec,
    /// Stored Stripe events processed, by outcome (`error` when it failed).
    pub stripe_events_processed: IntCounterVec,
    /// Calls to Stripe's API by call and result (`ok`, `error`).
    pub stripe_api_calls: IntCounterVec,
    /// Workspaces moving to a billing standing: `good`, `past_due`, `lapsed`.
    pub billing_transitions: IntCounterVec,
    /// Mail sending attempts by result: `sent`, `failed`, `dead`.
    pub mail: IntCounterVec,
    outbox_depth: IntGauge,
    outbox_oldest_age: IntGauge,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let counter = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels)?;
        registry.register(Box::new(c.clone()))?;
        Ok::<_, prometheus::Error>(c)
    };
    let api_requests = counter(
        "wrnexus_control_plane_api_requests_total",
        "API and sign-in requests by route, method and status",
        &["route", "method", "status"],
    )?;
    let signins = counter(
        "wrnexus_control_plane_signins_total",
        "Sign-in attempts by outcome",
        &["outcome"],
    )?;
    let invalidations_published = counter(
        "wrnexus_control_plane_invalidations_published_total",
        "Changed decision entries pushed to gateways",
        &["bus"],
    )?;
    let webhook_deliveries = counter(
        "wrnexus_control_plane_webhook_deliveries_total",
        "Outbound webhook delivery attempts by result",
        &["result"],
    )?;
    let stripe_webhooks = counter(
        "wrnexus_control_plane_stripe_webhooks_total",
        "Stripe webhook deliveries received, by result",
        &["result"],
    )?;
    let stripe_events_processed = counter(
        "wrnexus_control_plane_stripe_events_processed_total",
        "Stored Stripe events processed, by outcome",
        &["outcome"],
    )?;
    let stripe_api_calls = counter(
        "wrnexus_control_plane_stripe_api_calls_total",
        "Calls to the Stripe API, by call and result",
        &["call", "result"],
    )?;
    let billing_transitions = counter(
        "wrnexus_control_plane_billing_transitions_total",
        "Workspaces moving to a billing standing",
        &["to"],
    )?;
    let mail = counter(
        "wrnexus_control_plane_mail_total",
        "Mail sending attempts, by result",
        &["result"],
    )?;
    let outbox_depth = IntGauge::new(
        "wrnexus_control_plane_outbox_pending",
        "Webhook deliveries waiting to be sent",
    )?;
    let outbox_oldest_age = IntGauge::new(
        "wrnexus_control_plane_outbox_oldest_age_seconds",
        "Age of the oldest pending webhook delivery",
    )?;
    registry.register(Box::new(outbox_depth.clone()))?;
    registry.register(Box::new(outbox_oldest_age.clone()))?;
    for outcome in ["success", "failure", "rate_limited"] {
        signins.with_label_values(&[outcome]);
    }
    for result in ["delivered", "failed", "dead"] {
        webhook_deliveries.with_label_values(&[result]);
    }
    for result in [
        "accepted",
        "duplicate",
        "invalid_signature",
        "stale_signature",
        "invalid_event",
        "disabled",
        "error",
    ] {
        stripe_webhooks.with_label_values(&[result]);
    }
    for outcome in ["applied", "stale", "ignored", "unmatched", "error"] {
        stripe_events_processed.with_label_values(&[outcome]);
    }
    for to in ["good", "past_due", "lapsed"] {
        billing_transitions.with_label_values(&[to]);
    }
    for result in ["sent", "failed", "dead"] {
        mail.with_label_values(&[result]);
    }
    Ok(Metrics {
        registry,
        stripe_webhooks,
        stripe_events_processed,
        stripe_api_calls,
        billing_transitions,
        mail,
        api_requests,
        signins,
        invalidations_published,
        webhook_deliveries,
        outbox_depth,
        outbox_oldest_age,
    })
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| {
    build()
        .inspect_err(|e| tracing::error!(error = %e, "control-plane metrics unavailable"))
        .ok()
});

/// The process's metrics (`None` only if registration failed at start).
pub fn metrics() -> Option<&'static Metrics> {
    METRICS.as_ref()
}

/// The `route` label of requests no route matched: one series for all of
/// them, whatever their paths.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `route` label of a request: the matched route's template
/// (`/v1/workspaces/{id}`), never the path a client sent, so no request
/// can add a series.
pub fn route_label(matched: Option<&str>) -> &str {
    matched.unwrap_or(UNMATCHED_ROUTE)
}

/// The `method` label: the standard methods by name, anything else `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// The text exposition, with the outbox read from `store` now.
    pub async fn render(&self, store: &Store) -> String {
        if let Ok((depth, oldest)) = outbox(store).await {
            self.outbox_depth.set(depth);
            self.outbox_oldest_age
                .set(oldest.map_or(0, |t| (crate::store::now() - t).max(0)));
        }
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

async fn outbox(store: &Store) -> Result<(i64, Option<i64>), crate::store::StoreError> {
    let mut tx = store.read(Scope::system()).await?;
    let row: (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'",
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::{method_label, route_label};

    #[test]
    fn labels_come_from_a_closed_set() {
        assert_eq!(
            route_label(Some("/v1/workspaces/{id}")),
            "/v1/workspaces/{id}"
        );
        assert_eq!(route_label(None), "unmatched");
        let odd = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }
}
