//! Revocation lag across a fleet of gateways under load: how long after the
//! control plane answers a change (a member removed, an API key revoked, a
//! workspace suspended) every gateway refuses the credential it cut off.
//!
//! Starts a split stack on a fresh Postgres database and a private
//! `redis-server`: one control plane and `--gateways` gateways of the
//! `wrnexus` binary `WRNEXUS_BIN` names (the release build, for figures),
//! plus the demo upstream. Background workers send allowed requests to every
//! gateway throughout. For each change, one prober per gateway sends the
//! affected credential's request every `--probe-interval-ms` on its own
//! keep-alive connection, from before the change until after the last
//! gateway refused; the lag at a gateway is the first refused probe's send
//! time minus t0, the instant the control plane's call returned (and, as an
//! upper bound, minus the instant it was sent). Each refusal must be the
//! expected status and `code`; an allowed answer after a refusal is a flap.
//!
//! ```text
//! WRNEXUS_BIN=/var/tmp/wrnexus-target/release/wrnexus \
//!   target/debug/revocation_lag [--changes 240] [--gateways 3] [--load-rps 600]
//! ```

mod fleet;
mod load;
mod probe;
mod report;
mod scrape;
mod subjects;

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// Settings, from the command line.
#[derive(Debug, Clone)]
struct Args {
    changes: usize,
    gateways: usize,
    load_rps: f64,
    load_workers: usize,
    load_users: usize,
    probe: probe::ProbeSettings,
}

const USAGE: &str = "usage: revocation_lag [--changes N (240)] [--gateways N (3)] \
[--load-rps R (600)] [--load-workers N (12)] [--load-users N (3)] \
[--probe-interval-ms MS (1)] [--warm N (20)] [--after-ms MS (150)] [--timeout-ms MS (5000)]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        changes: 240,
        gateways: 3,
        load_rps: 600.0,
        load_workers: 12,
        load_users: 3,
        probe: probe::ProbeSettings {
            interval: Duration::from_millis(1),
            warm: 20,
            after: Duration::from_millis(150),
            timeout: Duration::from_millis(5000),
        },
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> Result<u64> {
            value
                .parse()
                .with_context(|| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--changes" => args.changes = number()? as usize,
            "--gateways" => args.gateways = (number()? as usize).max(1),
            "--load-rps" => args.load_rps = number()? as f64,
            "--load-workers" => args.load_workers = number()? as usize,
            "--load-users" => args.load_users = (number()? as usize).max(1),
            "--probe-interval-ms" => args.probe.interval = Duration::from_millis(number()?.max(1)),
            "--warm" => args.probe.warm = u32::try_from(number()?)?,
            "--after-ms" => args.probe.after = Duration::from_millis(number()?),
            "--timeout-ms" => args.probe.timeout = Duration::from_millis(number()?),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let bin = fleet::e2e(wrnexus_e2e::process::binary())?;
    let per_kind = args.changes.div_ceil(3);
    println!("revocation_lag: {}", wrnexus_benches::machine::describe());
    println!(
        "binary under test: {}\nsettings: {} gateways, {per_kind} changes of each kind ({} in all), probe every {:?} per gateway (the next waits for the answer), {} allowed probes per gateway before each change, {:?} watched after the last refusal, give up after {:?}; load {} req/s over {} workers ({} users + {} keys)",
        bin.display(),
        args.gateways,
        per_kind * 3,
        args.probe.interval,
        args.probe.warm,
        args.probe.after,
        args.probe.timeout,
        args.load_rps,
        args.load_workers,
        args.load_users,
        args.load_users,
    );
    let started = Instant::now();
    let fleet = fleet::Fleet::start(args.gateways).await?;
    let result = measure(&fleet, &args, per_kind).await;
    if let Err(e) = &result {
        let logs = fleet.stack.logs();
        let tail = &logs[logs.len().saturating_sub(6000)..];
        eprintln!("failed: {e:#}\n--- end of the fleet's logs ---\n{tail}");
    }
    fleet.stop().await?;
    println!("\ntotal run time {:.0} s", started.elapsed().as_secs_f64());
    result
}

async fn measure(fleet: &fleet::Fleet, args: &Args, per_kind: usize) -> Result<()> {
    let prep = Instant::now();
    let prepared = subjects::prepare(fleet, per_kind, args.load_users).await?;
    println!(
        "prepared {} subjects and {} load credentials in {:.1} s",
        prepared.subjects.len(),
        prepared.load.len(),
        prep.elapsed().as_secs_f64()
    );
    let urls: Vec<String> = fleet.gateways.iter().map(|g| g.url.clone()).collect();
    let admins: Vec<String> = fleet.gateways.iter().map(|g| g.admin.clone()).collect();
    let mut load = load::Load::start(&urls, &prepared.load, args.load_workers, args.load_rps);
    // Let the load reach a steady state (connections open, caches warm).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = reqwest::Client::new();
    let before = scrape::scrape_all(&c, &admins).await?;
    load.measure();
    let window = Instant::now();
    let mut outcomes = Vec::with_capacity(prepared.subjects.len());
    for (i, subject) in prepared.subjects.iter().enumerate() {
        let outcome = probe::watch_change(&c, &fleet.gateways, subject, args.probe).await?;
        outcomes.push(outcome);
        if (i + 1) % 30 == 0 {
            println!(
                "  {} changes in {:.0} s",
                i + 1,
                window.elapsed().as_secs_f64()
            );
        }
    }
    load.pause();
    let after = scrape::scrape_all(&c, &admins).await?;
    let load = load.finish().await;
    report::lags(&outcomes);
    report::load(&load);
    report::metrics(&outcomes, &before, &after);
    Ok(())
}
