//! Policy reload under load: a split stack (release `wrnexus`, Postgres,
//! Redis) whose gateway serves a policy directory, `wrk` driving steady
//! load through it with a session cookie, while the directory is swapped
//! `RELOADS` times between the shipped set and the shipped set plus
//! `EXTRA` generated policies. Reports the time from the write (and
//! SIGHUP) to the new set in force — the moment the gateway's
//! `wrnexus_gateway_policy_reloads_total{set="live",result="ok"}` counter
//! moves on `/metrics` (the admin listener), which it does right after the
//! swap — the failed requests (wrk's non-2xx/3xx and socket errors, and
//! the gateway's own count of non-2xx answers) and the throughput, per
//! 100 ms from the gateway's request counter, during each reload against
//! the run's median.
//!
//! Settings (environment): `WRNEXUS_BIN` (the binary under test; release),
//! `RELOADS` (20), `EXTRA` (1000), `CONNECTIONS` (32), `THREADS` (1),
//! `GAP_MS` (10000: one reload every this long; longer than a
//! checked load of the large set, proofs included), `TRIGGER` (`sighup`: write
//! then SIGHUP, the directory poll set to an hour; `poll`: write only, the
//! gateway polls every `POLL_MS`, 250). Needs Postgres and Redis (the e2e
//! defaults, `WRNEXUS_TEST_POSTGRES_URL`/`WRNEXUS_TEST_REDIS_URL`), `wrk`
//! and `cvc5` (the gateway proves every candidate set).

use wrnexus_benches::policy_sets;
use wrnexus_benches::stats::percentile;
mod scrape;
mod wrk;

use anyhow::{Context, Result};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wrnexus_benches::harness::e2e;
use wrnexus_e2e::client::{http, sign_up};
use wrnexus_e2e::services::{fresh_postgres, redis_url};
use wrnexus_e2e::stack::Stack;

/// Load before the first reload and after the last, seconds.
const SETTLE_SECS: u64 = 5;
/// How often the throughput is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

fn setting(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v}: not a number")),
        Err(_) => Ok(default),
    }
}

/// One reload: how long it took to land.
struct Swap {
    extra: usize,
    triggered: Duration,
    took: Duration,
}

#[tokio::main]
async fn main() -> Result<()> {
    let reloads = setting("RELOADS", 20)? as usize;
    let extra = setting("EXTRA", 1000)? as usize;
    let connections = setting("CONNECTIONS", 32)? as usize;
    let threads = setting("THREADS", 1)? as usize;
    let gap = Duration::from_millis(setting("GAP_MS", 10_000)?);
    let sighup = std::env::var("TRIGGER").map_or(true, |t| t != "poll");
    let poll_ms = if sighup {
        3_600_000
    } else {
        setting("POLL_MS", 250)?
    };
    let bin = e2e(wrnexus_e2e::process::binary())?;
    println!("policy reload under load");
    println!("machine: {}", wrnexus_benches::machine::describe());
    println!("binary: {}", bin.display());
    println!(
        "settings: {reloads} reloads alternating shipped+{extra} and shipped, one every {gap:?}; \
         trigger {}; wrk -t{threads} -c{connections}",
        if sighup {
            "write + SIGHUP (poll off)".to_string()
        } else {
            format!("write, polled every {poll_ms} ms")
        }
    );

    let database = e2e(fresh_postgres().await)?.context("Postgres is needed")?;
    let root = std::env::temp_dir().join(format!("wrnexus-policy-reload-{}", std::process::id()));
    let dir = root.join("policies");
    policy_sets::write_set(&dir, 0)?;
    let dir_s = dir.display().to_string();
    let poll_s = poll_ms.to_string();
    let stack = e2e(Stack::split_with_env(
        &database,
        &redis_url(),
        &[
            ("WRNEXUS_POLICIES__DIR", &dir_s),
            ("WRNEXUS_POLICIES__POLL_INTERVAL_MS", &poll_s),
        ],
        &[("WRNEXUS_POLICIES__DIR", &dir_s)],
    )
    .await)?;
    let result = run(
        &stack,
        &dir,
        reloads,
        extra,
        connections,
        threads,
        gap,
        sighup,
    )
    .await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    drop(stack);
    std::fs::remove_dir_all(&root).ok();
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    stack: &Stack,
    dir: &std::path::Path,
    reloads: usize,
    extra: usize,
    connections: usize,
    threads: usize,
    gap: Duration,
    sighup: bool,
) -> Result<()> {
    let client = http();
    let user = e2e(sign_up(
        &client,
        &stack.gateway,
        &wrnexus_e2e::client::email("reload"),
    )
    .await)?;
    let url = format!("{}/", stack.gateway);
    let status = user
        .req(&client, reqwest::Method::GET, &url)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "GET / answered {status}");
    let gateway = stack
        .procs
        .iter()
        .find(|p| p.name.starts_with("gateway"))
        .context("no gateway process")?;
    let metrics_url = format!("{}/metrics", stack.admin);

    // The throughput timeline, read from the gateway every 100 ms.
    let samples: Arc<Mutex<Vec<(Duration, scrape::Sample)>>> = Arc::default();
    let start = Instant::now();
    let sampler = {
        let (samples, client, url) = (samples.clone(), client.clone(), metrics_url.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                if let Ok(s) = scrape::read(&client, &url).await
                    && let Ok(mut v) = samples.lock()
                {
                    v.push((start.elapsed(), s));
                }
            }
        })
    };
    let seconds = 2 * SETTLE_SECS + (gap * reloads as u32).as_secs().max(1);
    let load = wrk::Load {
        url,
        cookie: user.cookie.clone(),
        threads,
        connections,
        seconds,
    };
    let before = scrape::read(&client, &metrics_url).await?;
    let child = load.start()?;
    let load_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(SETTLE_SECS)).await;

    let mut swaps = Vec::new();
    for i in 0..reloads {
        let set_extra = if i % 2 == 0 { extra } else { 0 };
        let was = scrape::read(&client, &metrics_url).await?;
        let t0 = Instant::now();
        policy_sets::write_set(dir, set_extra)?;
        if sighup {
            e2e(gateway.hangup())?;
        }
        let landed = scrape::wait_swap(
            &client,
            &metrics_url,
            was.reloads_ok,
            was.reloads_refused,
            3 * gap,
        )
        .await
        .with_context(|| format!("reload {} (shipped+{set_extra})", i + 1))?;
        swaps.push(Swap {
            extra: set_extra,
            triggered: t0 - start,
            took: landed - t0,
        });
        let next = load_start + Duration::from_secs(SETTLE_SECS) + gap * (i as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    let report = wrk::finish(child).await?;
    sampler.abort();
    let after = scrape::read(&client, &metrics_url).await?;
    let series = scrape::non_2xx_series(&client, &metrics_url).await?;
    let samples = samples
        .lock()
        .map_err(|_| anyhow::anyhow!("samples poisoned"))?
        .clone();
    print_report(&swaps, &report, &before, &after, &samples, extra);
    if !series.is_empty() {
        println!("gateway series outside 2xx (whole run, set-up included):");
        for line in series {
            println!("  {line}");
        }
    }
    Ok(())
}

fn print_report(
    swaps: &[Swap],
    report: &wrk::Report,
    before: &scrape::Sample,
    after: &scrape::Sample,
    samples: &[(Duration, scrape::Sample)],
    extra: usize,
) {
    println!("\n--- wrk ---\n{}", report.text.trim_end());
    println!("\n--- time to swap (trigger → new set in force) ---");
    for set in [extra, 0] {
        let mut ms: Vec<f64> = swaps
            .iter()
            .filter(|s| s.extra == set)
            .map(|s| s.took.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "to shipped+{set:<5} n={:>2}  p50 {:>7.1} ms  max {:>7.1} ms",
            ms.len(),
            percentile(&ms, 50.0),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }

    // Throughput per interval, from the gateway's own counter.
    let rates: Vec<(Duration, Duration, f64)> = samples
        .windows(2)
        .filter_map(|w| {
            let dt = (w[1].0 - w[0].0).as_secs_f64();
            (dt > 0.0).then(|| (w[0].0, w[1].0, (w[1].1.requests - w[0].1.requests) / dt))
        })
        .collect();
    let first = swaps
        .first()
        .map_or(Duration::ZERO, |s| s.triggered)
        .saturating_sub(Duration::from_secs(4));
    let last = swaps
        .last()
        .map_or(Duration::ZERO, |s| s.triggered + s.took)
        + Duration::from_secs(2);
    let mut steady: Vec<f64> = rates
        .iter()
        .filter(|(a, b, _)| *a >= first && *b <= last)
        .map(|r| r.2)
        .collect();
    steady.sort_by(f64::total_cmp);
    let median = percentile(&steady, 50.0);
    println!("\n--- throughput (gateway counter, per {SAMPLE_EVERY:?}) ---");
    println!("median over the reload phase: {median:.0} req/s");
    let mut dips = Vec::new();
    for s in swaps {
        let (from, to) = (
            s.triggered,
            s.triggered + s.took + Duration::from_millis(500),
        );
        let low = rates
            .iter()
            .filter(|(a, b, _)| *b > from && *a < to)
            .map(|r| r.2)
            .fold(f64::INFINITY, f64::min);
        dips.push((s.extra, low / median));
    }
    let inside = |a: Duration, b: Duration| {
        swaps
            .iter()
            .any(|s| b > s.triggered && a < s.triggered + s.took + Duration::from_millis(500))
    };
    let mut outside: Vec<f64> = rates
        .iter()
        .filter(|(a, b, _)| *a >= first && *b <= last && !inside(*a, *b))
        .map(|r| r.2)
        .collect();
    outside.sort_by(f64::total_cmp);
    let mut during: Vec<f64> = rates
        .iter()
        .filter(|(a, b, _)| inside(*a, *b))
        .map(|r| r.2)
        .collect();
    during.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "mean while a swap is under way: {:.0} req/s ({:.1} % of the mean outside swaps, {:.0} req/s); \
         lowest 100 ms outside swaps: {:.1} % of the median (noise floor)",
        mean(&during),
        100.0 * mean(&during) / mean(&outside),
        mean(&outside),
        100.0 * outside.first().copied().unwrap_or(f64::NAN) / median
    );
    for set in [extra, 0] {
        let mut d: Vec<f64> = dips
            .iter()
            .filter(|x| x.0 == set)
            .map(|x| x.1 * 100.0)
            .collect();
        d.sort_by(f64::total_cmp);
        println!(
            "lowest 100 ms during a swap to shipped+{set:<5}: median {:>5.1} %, worst {:>5.1} % of the median",
            percentile(&d, 50.0),
            d.first().copied().unwrap_or(f64::NAN)
        );
    }
    let [connect, read, write, timeout] = report.socket_errors;
    let gateway_non_2xx = after.non_2xx - before.non_2xx;
    println!("\n--- failures (goal: 0) ---");
    println!(
        "wrk: {} requests, non-2xx/3xx {}, socket errors connect {connect} read {read} write {write} timeout {timeout}",
        report.requests, report.non_2xx_3xx
    );
    println!(
        "gateway: {:.0} requests, {gateway_non_2xx:.0} answered outside 2xx, {:.0} left unanswered \
         when the client went away (status 0); reloads ok {:.0}, refused {:.0}",
        after.requests - before.requests,
        after.cut - before.cut,
        after.reloads_ok - before.reloads_ok,
        after.reloads_refused - before.reloads_refused
    );
    let failures = report.non_2xx_3xx + connect + read + write + timeout;
    println!(
        "goal zero failed requests: {}",
        if failures == 0 && gateway_non_2xx == 0.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
