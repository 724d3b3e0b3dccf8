//! The gateways' own view: `wrnexus_gateway_invalidation_lag_seconds`
//! (publish → local drop) scraped from each admin `/metrics`, differenced
//! over the measured window, with quantiles interpolated in the buckets as
//! Prometheus' `histogram_quantile` does.

use anyhow::{Context, Result};
use reqwest::Client;

const SERIES: &str = "wrnexus_gateway_invalidation_lag_seconds";
const BUS: &str = "redis";

/// One histogram series: cumulative counts by upper bound (`+Inf` last).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

/// Scrape the `bus="redis"` series of one gateway.
pub async fn scrape(c: &Client, admin: &str) -> Result<Histogram> {
    let text = c
        .get(format!("{admin}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse(&text))
}

/// The labels of a sample line `name{a="x",b="y"} value`, and its value.
fn sample<'a>(line: &'a str, name: &str) -> Option<(Vec<(&'a str, &'a str)>, f64)> {
    let rest = line.strip_prefix(name)?;
    let (labels, value) = match rest.strip_prefix('{') {
        Some(r) => r.split_once("} ")?,
        None => ("", rest.strip_prefix(' ')?),
    };
    let labels = labels
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
        .collect();
    Some((labels, value.trim().parse().ok()?))
}

fn parse(text: &str) -> Histogram {
    let mut h = Histogram::default();
    let on_bus = |labels: &[(&str, &str)]| labels.iter().any(|&(k, v)| k == "bus" && v == BUS);
    for line in text.lines() {
        if let Some((labels, v)) = sample(line, &format!("{SERIES}_bucket")) {
            let le = labels.iter().find(|(k, _)| *k == "le").map(|(_, v)| *v);
            if let (true, Some(le)) = (on_bus(&labels), le) {
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                h.buckets.push((bound, v));
            }
        } else if let Some((labels, v)) = sample(line, &format!("{SERIES}_count")) {
            if on_bus(&labels) {
                h.count = v;
            }
        } else if let Some((labels, v)) = sample(line, &format!("{SERIES}_sum"))
            && on_bus(&labels)
        {
            h.sum = v;
        }
    }
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    h
}

impl Histogram {
    /// What was observed since `before`.
    pub fn since(&self, before: &Histogram) -> Histogram {
        let earlier = |le: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| (le, c - earlier(le)))
                .collect(),
            count: self.count - before.count,
            sum: self.sum - before.sum,
        }
    }

    /// Add another gateway's observations (same buckets).
    pub fn merge(&mut self, other: &Histogram) {
        if self.buckets.is_empty() {
            *self = other.clone();
            return;
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.1 += theirs.1;
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    /// The `q` quantile in seconds, interpolated linearly inside its bucket
    /// (the first bucket from 0); the highest finite bound when it falls in
    /// `+Inf`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = q * self.count;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, cumulative) in &self.buckets {
            if cumulative >= rank {
                if le.is_infinite() {
                    return Some(lower);
                }
                let inside = cumulative - below;
                let fraction = if inside > 0.0 {
                    (rank - below) / inside
                } else {
                    1.0
                };
                return Some(lower + (le - lower) * fraction);
            }
            (lower, below) = (le, cumulative);
        }
        Some(lower)
    }

    /// Observations certainly above `seconds` (in buckets whose lower bound
    /// is at or above it).
    pub fn above(&self, seconds: f64) -> f64 {
        let within = self
            .buckets
            .iter()
            .find(|(le, _)| *le >= seconds)
            .map_or(self.count, |(_, c)| *c);
        (self.count - within).max(0.0)
    }
}

/// Scrape every gateway.
pub async fn scrape_all(c: &Client, admins: &[String]) -> Result<Vec<Histogram>> {
    let mut out = Vec::with_capacity(admins.len());
    for admin in admins {
        out.push(
            scrape(c, admin)
                .await
                .with_context(|| format!("scraping {admin}"))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE wrnexus_gateway_invalidation_lag_seconds histogram
wrnexus_gateway_invalidation_lag_seconds_bucket{bus=\"redis\",le=\"0.001\"} 6
wrnexus_gateway_invalidation_lag_seconds_bucket{bus=\"redis\",le=\"0.005\"} 10
wrnexus_gateway_invalidation_lag_seconds_bucket{bus=\"redis\",le=\"+Inf\"} 10
wrnexus_gateway_invalidation_lag_seconds_sum{bus=\"redis\"} 0.012
wrnexus_gateway_invalidation_lag_seconds_count{bus=\"redis\"} 10
";

    #[test]
    fn buckets_parse_and_interpolate() {
        let h = parse(TEXT);
        assert_eq!(h.count, 10.0);
        assert_eq!(h.buckets.len(), 3);
        // Rank 5 of 6 in [0, 1 ms]; rank 9 is 3/4 into (1 ms, 5 ms].
        assert!((h.quantile(0.5).unwrap() - 0.000_833).abs() < 1e-5);
        assert!((h.quantile(0.9).unwrap() - 0.004).abs() < 1e-9);
        assert_eq!(h.above(0.001), 4.0);
        assert_eq!(h.above(0.005), 0.0);
        assert_eq!(h.since(&h).count, 0.0);
    }
}
