//! Prometheus metrics of the gateway (served on the admin listener), with
//! the process's own (`process_*`, Linux) and its build.

use crate::ops::fail_cause::FailCause;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric the gateway exports. Labels never carry user or workspace ids.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// By route (the app route's name, `control_plane`, or `none` before a
    /// route is found), decision and status.
    pub requests: IntCounterVec,
    pub decision_seconds: HistogramVec,
    /// Cache lookups by result: `hit`, `miss`, `stale`.
    pub cache: IntCounterVec,
    /// Seconds from the control plane's publish to this gateway's drop.
    pub invalidation_lag_seconds: HistogramVec,
    /// Backend errors by kind: `redis`, `control_plane`.
    pub backend_errors: IntCounterVec,
    /// Requests refused with 503 because decision data was unavailable,
    /// by [`FailCause`]: the gateway's own fail-closed decisions.
    pub fail_closed: IntCounterVec,
    pub keys_loaded: IntGauge,
    /// Time from letting the request through (the upstream is chosen next)
    /// to the upstream's response header, by route.
    pub upstream_seconds: HistogramVec,
    /// Whether each address of each route is in balance (1) or out,
    /// failing its health checks (0), by route and address.
    pub upstream_healthy: IntGaugeVec,
    /// Requests being handled right now (WebSockets included while open).
    pub in_flight: IntGauge,
    /// Policy reloads by set (`live`, `shadow`) and result (`ok`, `refused`).
    pub policy_reloads: IntCounterVec,
    /// Decisions where the shadow set disagreed, by the two outcomes.
    pub shadow_differences: IntCounterVec,
    /// Key-use reports to the control plane by result (`sent`, `failed`).
    pub key_usage_reports: IntCounterVec,
    /// Refused keys not reported, by reason (`queue_full`, `malformed`).
    pub key_usage_dropped: IntCounterVec,
    /// Reloads of the listener's certificates by result (`ok`, `refused`:
    /// the serving ones kept).
    pub tls_reloads: IntCounterVec,
    /// When each serving certificate expires (Unix seconds), by its file.
    pub tls_certificate_expiry: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_requests_total",
                "Requests by route, decision and status",
            ),
            &["route", "decision", "status"],
        )?;
        let decision_seconds = HistogramVec::new(
            HistogramOpts::new(
                "wrnexus_gateway_decision_duration_seconds",
                "Time to authenticate, resolve and decide",
            )
            .buckets(vec![
                0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
            ]),
            &["decision"],
        )?;
        let cache = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_cache_lookups_total",
                "Decision-data lookups by result",
            ),
            &["result"],
        )?;
        let invalidation_lag_seconds = HistogramVec::new(
            HistogramOpts::new(
                "wrnexus_gateway_invalidation_lag_seconds",
                "Delay from publish to local drop",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["bus"],
        )?;
        let backend_errors = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_backend_errors_total",
                "Errors talking to Redis or the control plane",
            ),
            &["backend"],
        )?;
        let fail_closed = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_fail_closed_total",
                "Requests the gateway refused with 503 itself, decision data unavailable, by cause",
            ),
            &["cause"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "wrnexus_build_info",
                "Always 1: the running build's version, by service",
            ),
            &["version", "service"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), "gateway"])
            .set(1);
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(fail_closed.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let keys_loaded = IntGauge::new(
            "wrnexus_gateway_signing_keys",
            "Session verification keys loaded",
        )?;
        let upstream_seconds = HistogramVec::new(
            HistogramOpts::new(
                "wrnexus_gateway_upstream_duration_seconds",
                "Time from letting the request through to the upstream's response header",
            )
            .buckets(vec![
                0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )?;
        let upstream_healthy = IntGaugeVec::new(
            Opts::new(
                "wrnexus_gateway_upstream_healthy",
                "Whether an upstream address is in balance (1) or failing its health checks (0)",
            ),
            &["route", "address"],
        )?;
        let in_flight = IntGauge::new(
            "wrnexus_gateway_requests_in_flight",
            "Requests (and open WebSocket connections) being handled now",
        )?;
        let policy_reloads = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_policy_reloads_total",
                "Policy reloads by set and result (refused: the last good set kept serving)",
            ),
            &["set", "result"],
        )?;
        let shadow_differences = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_policy_shadow_differences_total",
                "Decisions where the shadow policy set disagreed with the live one",
            ),
            &["live", "shadow"],
        )?;
        let key_usage_reports = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_key_usage_reports_total",
                "Reports of API key use (last use, refusals) sent to the control plane, by result",
            ),
            &["result"],
        )?;
        let key_usage_dropped = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_key_usage_dropped_total",
                "Refused API keys left out of the reports: queue full, or malformed (no key id)",
            ),
            &["reason"],
        )?;
        let tls_reloads = IntCounterVec::new(
            Opts::new(
                "wrnexus_gateway_tls_reloads_total",
                "Reloads of the listener's certificates by result (refused: the serving ones kept)",
            ),
            &["result"],
        )?;
        let tls_certificate_expiry = IntGaugeVec::new(
            Opts::new(
                "wrnexus_gateway_tls_certificate_expiry_timestamp_seconds",
                "When each serving certificate expires (Unix seconds), by certificate file",
            ),
            &["certificate"],
        )?;
        registry.register(Box::new(tls_reloads.clone()))?;
        registry.register(Box::new(tls_certificate_expiry.clone()))?;
        registry.register(Box::new(key_usage_reports.clone()))?;
        registry.register(Box::new(key_usage_dropped.clone()))?;
        registry.register(Box::new(policy_reloads.clone()))?;
        registry.register(Box::new(shadow_differences.clone()))?;
        registry.register(Box::new(upstream_seconds.clone()))?;
        registry.register(Box::new(upstream_healthy.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(decision_seconds.clone()))?;
        registry.register(Box::new(cache.clone()))?;
        registry.register(Box::new(invalidation_lag_seconds.clone()))?;
        registry.register(Box::new(backend_errors.clone()))?;
        registry.register(Box::new(keys_loaded.clone()))?;
        // Series that alerts and dashboards watch exist from the start, at 0.
        for result in ["hit", "miss", "stale"] {
            cache.with_label_values(&[result]);
        }
        for backend in ["redis", "control_plane"] {
            backend_errors.with_label_values(&[backend]);
        }
        for cause in FailCause::ALL {
            fail_closed.with_label_values(&[cause.as_str()]);
        }
        for result in ["ok", "refused"] {
            policy_reloads.with_label_values(&["live", result]);
        }
        for (live, shadow) in [("allow", "deny"), ("deny", "allow")] {
            shadow_differences.with_label_values(&[live, shadow]);
        }
        for result in ["sent", "failed"] {
            key_usage_reports.with_label_values(&[result]);
        }
        for reason in ["queue_full", "malformed"] {
            key_usage_dropped.with_label_values(&[reason]);
        }
        for result in ["ok", "refused"] {
            tls_reloads.with_label_values(&[result]);
        }
        Ok(Metrics {
            registry,
            requests,
            decision_seconds,
            cache,
            invalidation_lag_seconds,
            backend_errors,
            fail_closed,
            keys_loaded,
            upstream_seconds,
            upstream_healthy,
            in_flight,
            policy_reloads,
            shadow_differences,
            key_usage_reports,
            key_usage_dropped,
            tls_reloads,
            tls_certificate_expiry,
        })
    }

    /// Count a request refused because decision data was unavailable.
    pub fn count_fail_closed(&self, cause: FailCause) {
        self.fail_closed.with_label_values(&[cause.as_str()]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_closed_causes_build_and_process_are_exported_from_the_start()
    -> Result<(), prometheus::Error> {
        let metrics = Metrics::new()?;
        let text = metrics.render();
        for cause in ["redis", "stale_bound", "control_plane", "incomplete_data"] {
            let line = format!("wrnexus_gateway_fail_closed_total{{cause=\"{cause}\"}} 0\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        let build = format!(
            "wrnexus_build_info{{service=\"gateway\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        metrics.count_fail_closed(FailCause::StaleBound);
        assert!(
            metrics
                .render()
                .contains("wrnexus_gateway_fail_closed_total{cause=\"stale_bound\"} 1\n")
        );
        Ok(())
    }
}
