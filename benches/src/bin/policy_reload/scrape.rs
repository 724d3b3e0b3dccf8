//! Reading the gateway's `/metrics` (admin listener): requests served by
//! status, and policy reloads by result. The reload counter
//! (`wrnexus_gateway_policy_reloads_total{set="live",result="ok"}`) is
//! incremented right after the new set is swapped in, so its change marks
//! the moment the new set is in force.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// One reading of the counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Requests answered, any status.
    pub requests: f64,
    /// Of those, answered with a status outside 2xx.
    pub non_2xx: f64,
    /// Of those, never answered: the client went away first (status 0;
    /// `wrk` leaves up to one request per connection so when it stops).
    pub cut: f64,
    /// Live policy sets swapped in, and candidates refused.
    pub reloads_ok: f64,
    pub reloads_refused: f64,
}

/// The value of a `name{labels} value` line, when `name` and every label
/// of `want` match.
fn value_of(line: &str, name: &str, want: &[&str]) -> Option<f64> {
    let rest = line.strip_prefix(name)?;
    let (labels, value) = rest.rsplit_once(' ')?;
    if !(labels.starts_with('{') || labels.is_empty()) {
        return None;
    }
    want.iter()
        .all(|w| labels.contains(w))
        .then(|| value.trim().parse().ok())
        .flatten()
}

/// Parse the counters out of a `/metrics` body.
pub fn parse(body: &str) -> Sample {
    let mut sample = Sample::default();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        if let Some(v) = value_of(line, "wrnexus_gateway_requests_total", &[]) {
            sample.requests += v;
            if line.contains("status=\"0\"") {
                sample.cut += v;
            } else if !line.contains("status=\"2") {
                sample.non_2xx += v;
            }
        } else if let Some(v) = value_of(
            line,
            "wrnexus_gateway_policy_reloads_total",
            &["set=\"live\"", "result=\"ok\""],
        ) {
            sample.reloads_ok += v;
        } else if let Some(v) = value_of(
            line,
            "wrnexus_gateway_policy_reloads_total",
            &["set=\"live\"", "result=\"refused\""],
        ) {
            sample.reloads_refused += v;
        }
    }
    sample
}

/// Read `/metrics` once.
pub async fn read(client: &reqwest::Client, metrics_url: &str) -> Result<Sample> {
    let body = client
        .get(metrics_url)
        .send()
        .await
        .context("GET /metrics")?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse(&body))
}

/// The request series of `/metrics` answered outside 2xx, as lines.
pub async fn non_2xx_series(client: &reqwest::Client, metrics_url: &str) -> Result<Vec<String>> {
    let body = client.get(metrics_url).send().await?.text().await?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with("wrnexus_gateway_requests_total") && !l.contains("status=\"2"))
        .map(str::to_string)
        .collect())
}

/// Poll `/metrics` until the live set's ok-reload counter exceeds `ok` (a
/// refused candidate is an error), at most `bound`: the instant it did.
pub async fn wait_swap(
    client: &reqwest::Client,
    metrics_url: &str,
    ok: f64,
    refused: f64,
    bound: Duration,
) -> Result<Instant> {
    let start = Instant::now();
    loop {
        let sample = read(client, metrics_url).await?;
        if sample.reloads_ok > ok {
            return Ok(Instant::now());
        }
        if sample.reloads_refused > refused {
            anyhow::bail!("the gateway refused the candidate set (see its log)");
        }
        if start.elapsed() > bound {
            anyhow::bail!("no reload within {bound:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_counters() {
        let body = "# HELP x\n\
            wrnexus_gateway_requests_total{decision=\"allow\",route=\"/\",status=\"200\"} 10\n\
            wrnexus_gateway_requests_total{decision=\"deny\",route=\"/\",status=\"403\"} 2\n\
            wrnexus_gateway_policy_reloads_total{result=\"ok\",set=\"live\"} 3\n\
            wrnexus_gateway_policy_reloads_total{result=\"refused\",set=\"live\"} 1\n\
            wrnexus_gateway_policy_reloads_total{result=\"ok\",set=\"shadow\"} 7\n";
        let s = parse(body);
        assert_eq!(s.requests, 12.0);
        assert_eq!(s.non_2xx, 2.0);
        assert_eq!(s.cut, 0.0);
        assert_eq!(s.reloads_ok, 3.0);
        assert_eq!(s.reloads_refused, 1.0);
    }
}
