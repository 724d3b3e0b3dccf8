//! The series every request touches, looked up once and kept, instead of
//! by their label values on each request (hashing the values and taking
//! the vector's lock every time).

use crate::ops::metrics::Metrics;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};
use std::sync::{OnceLock, RwLock};

/// Every series a request touches: its decision time, and its route's.
pub struct RequestSeries {
    pub decision_seconds: DecisionSeconds,
    apps: Vec<RouteSeries>,
    control_plane: RouteSeries,
    unrouted: RouteSeries,
}

impl std::fmt::Debug for RequestSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSeries").finish_non_exhaustive()
    }
}

impl RequestSeries {
    /// The series of `metrics` for app routes named `routes`, in table order.
    pub fn new<'a>(metrics: &Metrics, routes: impl Iterator<Item = &'a str>) -> Self {
        let route = |name: &str| RouteSeries::new(name, metrics);
        RequestSeries {
            decision_seconds: DecisionSeconds::new(metrics.decision_seconds.clone()),
            apps: routes.map(route).collect(),
            control_plane: route("control_plane"),
            unrouted: route("none"),
        }
    }

    /// The app route at `index`, in table order.
    pub fn app(&self, index: usize) -> &RouteSeries {
        self.apps.get(index).unwrap_or(&self.unrouted)
    }

    /// Requests for the control plane.
    pub fn control_plane(&self) -> &RouteSeries {
        &self.control_plane
    }

    /// Requests no route serves (or refused before one was found).
    pub fn unrouted(&self) -> &RouteSeries {
        &self.unrouted
    }
}

/// The decision labels the proxy sets (`Ctx::decision`).
const DECISIONS: [&str; 9] = [
    "none",
    "bad_request",
    "control_plane",
    "no_route",
    "public",
    "unauthenticated",
    "allow",
    "deny",
    "error",
];

/// Decision-time histograms, one per decision label, made on first use.
pub struct DecisionSeconds {
    vec: HistogramVec,
    series: [OnceLock<Histogram>; DECISIONS.len()],
}

impl DecisionSeconds {
    fn new(vec: HistogramVec) -> Self {
        DecisionSeconds {
            vec,
            series: Default::default(),
        }
    }

    /// Record `seconds` for `decision`.
    pub fn observe(&self, decision: &str, seconds: f64) {
        match DECISIONS.iter().position(|d| *d == decision) {
            Some(i) => self.series[i]
                .get_or_init(|| self.vec.with_label_values(&[decision]))
                .observe(seconds),
            None => self.vec.with_label_values(&[decision]).observe(seconds),
        }
    }
}

/// One route's series: its upstream time, and its requests by decision and
/// status, each made on first use.
pub struct RouteSeries {
    route: String,
    upstream_seconds: Histogram,
    requests_vec: IntCounterVec,
    /// Few: a route sees a handful of decision and status pairs.
    requests: RwLock<Vec<(&'static str, u16, IntCounter)>>,
}

impl RouteSeries {
    fn new(route: &str, metrics: &Metrics) -> Self {
        RouteSeries {
            route: route.to_string(),
            upstream_seconds: metrics.upstream_seconds.with_label_values(&[route]),
            requests_vec: metrics.requests.clone(),
            requests: RwLock::new(Vec::new()),
        }
    }

    /// Record the upstream's time to its response header.
    pub fn observe_upstream(&self, seconds: f64) {
        self.upstream_seconds.observe(seconds);
    }

    /// Count a finished request: `status` 0 when no response was written.
    pub fn count(&self, decision: &'static str, status: u16, status_text: &str) {
        let counted = |seen: &[(&'static str, u16, IntCounter)]| {
            seen.iter()
                .find(|(d, s, _)| *s == status && *d == decision)
                .map(|(_, _, counter)| counter.inc())
                .is_some()
        };
        let done = match self.requests.read() {
            Ok(seen) => counted(&seen),
            Err(poisoned) => counted(&poisoned.into_inner()),
        };
        if done {
            return;
        }
        let counter =
            self.requests_vec
                .with_label_values(&[self.route.as_str(), decision, status_text]);
        counter.inc();
        if let Ok(mut seen) = self.requests.write()
            && !seen.iter().any(|(d, s, _)| *s == status && *d == decision)
        {
            seen.push((decision, status, counter));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_count_under_their_labels_however_often_they_are_used() -> Result<(), prometheus::Error>
    {
        let metrics = Metrics::new()?;
        let series = RequestSeries::new(&metrics, ["app", "admin"].into_iter());
        for _ in 0..3 {
            series.app(1).count("allow", 200, "200");
        }
        series.app(1).count("deny", 403, "403");
        series.app(7).count("no_route", 404, "404");
        series.control_plane().count("control_plane", 0, "0");
        series.decision_seconds.observe("allow", 0.001);
        series.decision_seconds.observe("not_a_label_we_set", 0.001);
        series.app(0).observe_upstream(0.002);
        let requests = |labels: [&str; 3]| metrics.requests.with_label_values(&labels).get();
        assert_eq!(requests(["admin", "allow", "200"]), 3);
        assert_eq!(requests(["admin", "deny", "403"]), 1);
        assert_eq!(requests(["app", "allow", "200"]), 0);
        assert_eq!(requests(["none", "no_route", "404"]), 1);
        assert_eq!(requests(["control_plane", "control_plane", "0"]), 1);
        let observed = |label: &str| {
            metrics
                .decision_seconds
                .with_label_values(&[label])
                .get_sample_count()
        };
        assert_eq!((observed("allow"), observed("not_a_label_we_set")), (1, 1));
        let upstream = metrics.upstream_seconds.with_label_values(&["app"]);
        assert_eq!(upstream.get_sample_count(), 1);
        Ok(())
    }
}
