//! Load on the gateway: `wrk` rotating over a working set's cookies (closed
//! loop, the gateway's throughput, latency and CPU per request), and a
//! driver presenting each of a list of principals once (first sight: the
//! decision data comes from Redis or the control plane).

use crate::fleet::{clock_ticks, cpu_ticks};
use crate::metrics::{self, Delta};
use crate::principals::Principal;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The wrk script (beside the load benchmark).
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("load/tenants/rotate.lua")
}

/// One closed-loop wrk run.
#[derive(Debug, Clone, Default)]
pub struct WrkRun {
    pub requests: u64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub non_2xx: u64,
    pub socket_errors: String,
    /// Gateway CPU per request, µs (user + system, /proc/PID/stat).
    pub cpu_us: f64,
    pub gateway: Delta,
}

/// Settings of the wrk runs.
#[derive(Debug, Clone)]
pub struct WrkSettings {
    pub connections: usize,
    pub duration_secs: u64,
    pub load_cpu: usize,
}

/// `wrk` on `url` with the cookies in `cookies`, the gateway `pid`'s CPU
/// and its own metrics read around it.
pub async fn wrk(
    settings: &WrkSettings,
    url: &str,
    cookies: &Path,
    pid: u32,
    admin: &str,
    duration_secs: u64,
) -> Result<WrkRun> {
    let http = reqwest::Client::new();
    let before = metrics::scrape(&http, admin).await?;
    let ticks = cpu_ticks(pid)?;
    let out = Command::new("taskset")
        .args(["-c", &settings.load_cpu.to_string(), "wrk", "-t1"])
        .arg(format!("-c{}", settings.connections))
        .arg(format!("-d{duration_secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script())
        .arg(url)
        .arg("--")
        .arg(cookies)
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let ticks = cpu_ticks(pid)? - ticks;
    let after = metrics::scrape(&http, admin).await?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut run = parse_wrk(&text).with_context(|| format!("reading wrk's output:\n{text}"))?;
    let us_per_tick = 1e6 / clock_ticks()? as f64;
    if run.requests > 0 {
        run.cpu_us = ticks as f64 * us_per_tick / run.requests as f64;
    }
    run.gateway = metrics::delta(&before, &after);
    Ok(run)
}

fn parse_wrk(text: &str) -> Result<WrkRun> {
    let mut run = WrkRun {
        socket_errors: "-".into(),
        ..WrkRun::default()
    };
    for line in text.lines() {
        let t = line.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        if t.contains(" requests in ") {
            run.requests = words.first().context("requests")?.parse()?;
        } else if t.starts_with("Requests/sec:") {
            run.rps = words.get(1).context("rps")?.parse()?;
        } else if t.starts_with("50%") {
            run.p50_us = micros(words.get(1).context("p50")?)?;
        } else if t.starts_with("99%") {
            run.p99_us = micros(words.get(1).context("p99")?)?;
        } else if t.starts_with("Non-2xx or 3xx responses:") {
            run.non_2xx = words.last().context("non-2xx")?.parse()?;
        } else if t.starts_with("Socket errors:") {
            run.socket_errors = t.trim_start_matches("Socket errors:").trim().to_string();
        }
    }
    if run.requests == 0 {
        bail!("no requests counted");
    }
    Ok(run)
}

/// wrk's `12.34us`, `1.2ms`, `1.5s` in µs.
fn micros(v: &str) -> Result<f64> {
    let (n, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        bail!("odd latency {v}")
    };
    Ok(n.parse::<f64>()? * scale)
}

/// One pass presenting each principal once.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    pub requests: usize,
    pub wall: Duration,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Status → count.
    pub statuses: BTreeMap<u16, usize>,
}

impl Pass {
    pub fn ok(&self) -> usize {
        self.statuses.get(&200).copied().unwrap_or(0)
    }
}

/// Request `url` once as each of `principals`, `concurrency` at a time.
pub async fn once(principals: &[Principal], url: &str, concurrency: usize) -> Result<Pass> {
    let cookies: Arc<Vec<String>> = Arc::new(principals.iter().map(Principal::cookie).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (cookies, next, client, url) = (
            cookies.clone(),
            next.clone(),
            client.clone(),
            url.to_string(),
        );
        tasks.spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cookie) = cookies.get(i) else {
                    break;
                };
                let t = Instant::now();
                let status = match client.get(&url).header("cookie", cookie).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                seen.push((status, t.elapsed()));
            }
            seen
        });
    }
    let mut all = Vec::with_capacity(principals.len());
    while let Some(done) = tasks.join_next().await {
        all.extend(done?);
    }
    let wall = started.elapsed();
    let mut statuses = BTreeMap::new();
    for (status, _) in &all {
        *statuses.entry(*status).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = all.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Ok(Pass {
        requests: all.len(),
        wall,
        p50_us: at(0.50),
        p99_us: at(0.99),
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() -> Result<()> {
        let run = parse_wrk(
            "Running 10s test @ http://127.0.0.1:1/app/items\n  1 threads and 32 connections\n\
             \x20 Latency Distribution\n     50%  610.00us\n     75%  1.00ms\n     90%  2.00ms\n\
             \x20    99%    1.53ms\n  123456 requests in 10.00s, 1.00MB read\n\
             Non-2xx or 3xx responses: 3\nRequests/sec:  12345.60\nTransfer/sec: 1.00MB\n",
        )?;
        assert_eq!(run.requests, 123_456);
        assert_eq!(run.non_2xx, 3);
        assert!((run.p50_us - 610.0).abs() < 1e-9 && (run.p99_us - 1530.0).abs() < 1e-6);
        assert!((run.rps - 12345.6).abs() < 1e-9);
        Ok(())
    }
}
