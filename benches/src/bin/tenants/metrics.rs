//! The gateway's own figures from its `/metrics`: the decision-time
//! histogram of allowed requests and the cache lookup counters, read before
//! and after a run and subtracted.

use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// What one scrape says, of the series this harness reads.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// `le` bound → cumulative count, of `decision="allow"`.
    pub allow_buckets: BTreeMap<Bound, f64>,
    pub allow_sum: f64,
    pub allow_count: f64,
    /// Cache lookups by result (`hit`, `miss`, `stale`).
    pub cache: BTreeMap<String, f64>,
    /// Requests by status, over every route and decision.
    pub statuses: BTreeMap<String, f64>,
}

/// A histogram bound, ordered (`+Inf` last).
#[derive(Debug, Clone, Copy)]
pub struct Bound(pub f64);
impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Bound {}
impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Read the gateway's `/metrics`.
pub async fn scrape(client: &reqwest::Client, admin: &str) -> Result<Scrape> {
    let text = client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .context("reading /metrics")?
        .text()
        .await?;
    Ok(parse(&text))
}

fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, labels_of(rest.trim_end_matches('}'))),
            None => (series, BTreeMap::new()),
        };
        let label = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
        match name {
            "wrnexus_gateway_decision_duration_seconds_bucket" if label("decision") == "allow" => {
                let le = match label("le") {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or(f64::INFINITY),
                };
                s.allow_buckets.insert(Bound(le), value);
            }
            "wrnexus_gateway_decision_duration_seconds_sum" if label("decision") == "allow" => {
                s.allow_sum = value;
            }
            "wrnexus_gateway_decision_duration_seconds_count" if label("decision") == "allow" => {
                s.allow_count = value;
            }
            "wrnexus_gateway_cache_lookups_total" => {
                s.cache.insert(label("result").to_string(), value);
            }
            "wrnexus_gateway_requests_total" => {
                *s.statuses.entry(label("status").to_string()).or_default() += value;
            }
            _ => {}
        }
    }
    s
}

fn labels_of(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in text.split("\",") {
        if let Some((k, v)) = pair.split_once("=\"") {
            out.insert(k.to_string(), v.trim_end_matches('"').to_string());
        }
    }
    out
}

/// What happened between two scrapes.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    /// Mean decision time of the allowed requests, µs.
    pub mean_us: f64,
    /// Quantiles interpolated in the histogram's buckets (as Prometheus'
    /// `histogram_quantile`), µs; coarse: the buckets are 10, 50, 100,
    /// 500 µs, 1 ms …
    pub p50_us: f64,
    pub p99_us: f64,
    pub misses: f64,
    pub stale: f64,
    /// Requests answered with anything but 200 (a response written).
    pub not_ok: f64,
    /// Requests the gateway wrote no response to (status 0: the client
    /// went away, as wrk does with the requests in flight when it stops).
    pub unanswered: f64,
    /// Decisions over 10 µs (the histogram's first bound), % of allowed.
    pub over_10us: f64,
}

pub fn delta(before: &Scrape, after: &Scrape) -> Delta {
    let allowed = after.allow_count - before.allow_count;
    let buckets: Vec<(f64, f64)> = after
        .allow_buckets
        .iter()
        .map(|(le, n)| {
            (
                le.0,
                n - before.allow_buckets.get(le).copied().unwrap_or(0.0),
            )
        })
        .collect();
    let counter = |m: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, k: &str| {
        m.get(k).copied().unwrap_or(0.0) - b.get(k).copied().unwrap_or(0.0)
    };
    let not_ok: f64 = after
        .statuses
        .keys()
        .filter(|k| k.as_str() != "200" && k.as_str() != "0")
        .map(|k| counter(&after.statuses, &before.statuses, k))
        .sum();
    Delta {
        mean_us: if allowed > 0.0 {
            (after.allow_sum - before.allow_sum) / allowed * 1e6
        } else {
            0.0
        },
        p50_us: quantile(&buckets, 0.50) * 1e6,
        p99_us: quantile(&buckets, 0.99) * 1e6,
        misses: counter(&after.cache, &before.cache, "miss"),
        stale: counter(&after.cache, &before.cache, "stale"),
        not_ok,
        unanswered: counter(&after.statuses, &before.statuses, "0"),
        over_10us: match buckets.first() {
            Some(&(_, within)) if allowed > 0.0 => (1.0 - within / allowed) * 100.0,
            _ => 0.0,
        },
    }
}

/// `q` of cumulative `(le, count)` buckets, linear within a bucket.
fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return 0.0;
    };
    if total <= 0.0 {
        return 0.0;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            let width = n - lower.1;
            let within = if width > 0.0 {
                (rank - lower.1) / width
            } else {
                1.0
            };
            return lower.0 + (le - lower.0) * within;
        }
        lower = (le, n);
    }
    lower.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_allow_histogram_and_interpolates() {
        let before = parse("");
        let after = parse(
            "wrnexus_gateway_decision_duration_seconds_bucket{decision=\"allow\",le=\"0.00001\"} 50\n\
             wrnexus_gateway_decision_duration_seconds_bucket{decision=\"allow\",le=\"0.00005\"} 100\n\
             wrnexus_gateway_decision_duration_seconds_bucket{decision=\"allow\",le=\"+Inf\"} 100\n\
             wrnexus_gateway_decision_duration_seconds_sum{decision=\"allow\"} 0.002\n\
             wrnexus_gateway_decision_duration_seconds_count{decision=\"allow\"} 100\n\
             wrnexus_gateway_cache_lookups_total{result=\"hit\"} 7\n\
             wrnexus_gateway_requests_total{decision=\"allow\",route=\"app\",status=\"200\"} 100\n\
             wrnexus_gateway_requests_total{decision=\"deny\",route=\"app\",status=\"401\"} 2\n",
        );
        let d = delta(&before, &after);
        assert!((d.mean_us - 20.0).abs() < 1e-6, "{d:?}");
        assert!((d.p50_us - 10.0).abs() < 1e-6, "{d:?}");
        assert!((d.p99_us - 49.2).abs() < 1e-6, "{d:?}");
        assert_eq!((d.misses, d.not_ok), (0.0, 2.0));
        assert!((d.over_10us - 50.0).abs() < 1e-9, "{d:?}");
    }
}
