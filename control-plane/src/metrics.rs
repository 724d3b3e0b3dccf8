//! Prometheus metrics of the control plane, served at `/metrics` on its
//! own listener: API requests, sign-in outcomes, webhook deliveries, Stripe
//! webhooks and billing, mail, and what the `/metrics` handler reads when
//! scraped ([`Readings`]): the outbox's depth and age, the invalidations
//! published and the database pool; request and Redis publish latencies;
//! the process's own series (`process_*`, Linux) and its build. Counters
//! are reached through [`metrics`] only; this module reads nothing itself.

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::LazyLock;

/// Every metric; one set per process.
pub struct Metrics {
    registry: Registry,
    /// By route template (`unmatched` for every unknown path), method and status.
    pub api_requests: IntCounterVec,
    /// Time to answer, by route template (as `api_requests`).
    pub api_request_seconds: HistogramVec,
    /// Time to write one changed entry to Redis and publish its
    /// invalidation (failures included).
    pub redis_publish_seconds: Histogram,
    /// By outcome: `success`, `failure`, `rate_limited`.
    pub signins: IntCounterVec,
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
    /// Database connections by state: `in_use`, `idle`.
    db_connections: IntGaugeVec,
    db_connections_max: IntGauge,
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
    let api_request_seconds = HistogramVec::new(
        HistogramOpts::new(
            "wrnexus_control_plane_api_request_duration_seconds",
            "Time to answer API and sign-in requests, by route",
        )
        .buckets(vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["route"],
    )?;
    let redis_publish_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "wrnexus_control_plane_redis_publish_duration_seconds",
            "Time to write one changed decision entry to Redis and publish its invalidation",
        )
        .buckets(vec![
            0.000_5, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ]),
    )?;
    let db_connections = IntGaugeVec::new(
        Opts::new(
            "wrnexus_control_plane_db_connections",
            "Database pool connections by state (in_use, idle)",
        ),
        &["state"],
    )?;
    let db_connections_max = IntGauge::new(
        "wrnexus_control_plane_db_connections_max",
        "Most connections the database pool opens",
    )?;
    let build_info = IntGaugeVec::new(
        Opts::new(
            "wrnexus_build_info",
            "Always 1: the running build's version, by service",
        ),
        &["version", "service"],
    )?;
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), "control_plane"])
        .set(1);
    registry.register(Box::new(build_info))?;
    registry.register(Box::new(api_request_seconds.clone()))?;
    registry.register(Box::new(redis_publish_seconds.clone()))?;
    registry.register(Box::new(db_connections.clone()))?;
    registry.register(Box::new(db_connections_max.clone()))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    for state in ["in_use", "idle"] {
        db_connections.with_label_values(&[state]);
    }
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
    for call in [
        "create_customer",
        "create_checkout_session",
        "create_portal_session",
        "update_subscription_item",
    ] {
        for result in ["ok", "error"] {
            stripe_api_calls.with_label_values(&[call, result]);
        }
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
        api_request_seconds,
        redis_publish_seconds,
        signins,
        webhook_deliveries,
        outbox_depth,
        outbox_oldest_age,
        db_connections,
        db_connections_max,
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

/// What the `/metrics` handler reads when scraped, from the store and its
/// pusher, for [`Metrics::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readings {
    /// Webhook deliveries pending, and the age in seconds of the oldest (0
    /// when none); `None` when the store could not be read, which leaves
    /// the gauges at their last values.
    pub outbox: Option<(i64, i64)>,
    /// The bus changed entries go out on (`redis`, `local`) and how many
    /// have been published on it.
    pub published: (&'static str, u64),
    /// The database pool now.
    pub pool: PoolReading,
}

/// The database pool as read at a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolReading {
    /// Connections open, in use or idle…
    pub open: u32,
    /// …of which idle…
    pub idle: u32,
    /// …and the most the pool opens.
    pub max: u32,
}

impl PoolReading {
    /// Read `pool` now (no I/O: the pool's own counters).
    pub fn of(pool: &sqlx::AnyPool) -> Self {
        PoolReading {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}

const INVALIDATIONS_PUBLISHED: &str = "wrnexus_control_plane_invalidations_published_total";

/// The invalidations-published counter, as read from the pusher.
fn published(bus: &str, count: u64) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let counter = IntCounterVec::new(
        Opts::new(
            INVALIDATIONS_PUBLISHED,
            "Changed decision entries pushed to gateways",
        ),
        &["bus"],
    )?;
    counter.with_label_values(&[bus]).inc_by(count);
    Ok(counter.collect())
}

impl Metrics {
    /// The text exposition, with what was read at this scrape.
    pub fn render(&self, readings: &Readings) -> String {
        if let Some((depth, oldest_age)) = readings.outbox {
            self.outbox_depth.set(depth);
            self.outbox_oldest_age.set(oldest_age);
        }
        let pool = readings.pool;
        let idle = pool.idle.min(pool.open);
        self.db_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.open - idle));
        self.db_connections
            .with_label_values(&["idle"])
            .set(i64::from(idle));
        self.db_connections_max.set(i64::from(pool.max));
        let mut families = self.registry.gather();
        let (bus, count) = readings.published;
        match published(bus, count) {
            Ok(family) => families.extend(family),
            Err(e) => tracing::warn!(error = %e, "invalidations counter unavailable"),
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut buf = Vec::new();
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{PoolReading, Readings, build, method_label, route_label};

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

    #[test]
    fn a_scrape_shows_what_was_read() {
        let metrics = build().unwrap();
        let text = metrics.render(&Readings {
            outbox: Some((3, 42)),
            published: ("redis", 7),
            pool: PoolReading {
                open: 5,
                idle: 2,
                max: 16,
            },
        });
        for line in [
            "wrnexus_control_plane_db_connections{state=\"in_use\"} 3\n",
            "wrnexus_control_plane_db_connections{state=\"idle\"} 2\n",
            "wrnexus_control_plane_db_connections_max 16\n",
            "wrnexus_control_plane_redis_publish_duration_seconds_count 0\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        let build = format!(
            "wrnexus_build_info{{service=\"control_plane\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_open_fds "), "{text}");
        assert!(
            text.contains("wrnexus_control_plane_outbox_pending 3\n"),
            "{text}"
        );
        assert!(
            text.contains("wrnexus_control_plane_outbox_oldest_age_seconds 42\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE wrnexus_control_plane_invalidations_published_total counter"),
            "{text}"
        );
        assert!(
            text.contains("wrnexus_control_plane_invalidations_published_total{bus=\"redis\"} 7\n"),
            "{text}"
        );
        // An unreadable store leaves the gauges as they were.
        let text = metrics.render(&Readings {
            outbox: None,
            published: ("local", 0),
            pool: PoolReading::default(),
        });
        assert!(
            text.contains("wrnexus_control_plane_outbox_pending 3\n"),
            "{text}"
        );
        assert!(
            text.contains("wrnexus_control_plane_invalidations_published_total{bus=\"local\"} 0\n"),
            "{text}"
        );
    }
}
