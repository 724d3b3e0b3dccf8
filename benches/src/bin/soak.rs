//! The long soak: a split fleet (one control plane, `--gateways` gateways
//! of the `wrnexus` binary `WRNEXUS_BIN` names, the demo upstream, a fresh
//! Postgres database, a private `redis-server`) first at its maximum (a
//! closed loop of `--concurrency` workers for `--max-secs`), then for
//! `--secs` in an open loop at `--fraction` of that maximum. Every
//! `--sample-secs` a row: requests, errors, p50/p99 latency of the interval
//! and the resident set of each gateway and the control plane; then the
//! summary, with each process's memory growth after the warm-up (the first
//! `--warmup` of the soak). Fails when there was an error or a process grew
//! by 5 % or more. The POSTs carry a small JSON body. The short form is
//! `tests/tests/soak.rs`.
//!
//! ```text
//! WRNEXUS_BIN=/var/tmp/wrnexus-target/release/wrnexus \
//!   target/debug/soak [--secs 1800] [--fraction 0.5] [--sample-secs 30]
//! ```

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};
use wrnexus_benches::harness::e2e;
use wrnexus_e2e::soak::{self, Settings};

/// Most a process's resident set may grow over the soak after the warm-up.
const GROWTH_BOUND: f64 = 0.05;

const USAGE: &str = "usage: WRNEXUS_BIN=path/to/wrnexus soak [--secs S (1800)] [--fraction F (0.5)] \
[--sample-secs S (30)] [--max-secs S (20)] [--concurrency N (32)] [--gateways N (2)] [--warmup F (0.2)]";

fn parse_args() -> Result<Settings> {
    let mut settings = Settings::long();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> Result<f64> {
            value
                .parse()
                .with_context(|| format!("{flag}: not a number: {value}"))
        };
        let seconds = || -> Result<Duration> {
            Duration::try_from_secs_f64(number()?).with_context(|| format!("{flag}: {value}"))
        };
        match flag.as_str() {
            "--secs" => settings.soak_duration = seconds()?,
            "--fraction" => settings.fraction = number()?,
            "--sample-secs" => settings.sample_every = seconds()?,
            "--max-secs" => settings.max_duration = seconds()?,
            "--concurrency" => settings.concurrency = number()? as usize,
            "--gateways" => settings.gateways = (number()? as usize).max(1),
            "--warmup" => settings.warmup_fraction = number()?,
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    e2e(settings.check())?;
    Ok(settings)
}

#[tokio::main]
async fn main() -> Result<()> {
    let settings = parse_args()?;
    if std::env::var_os("WRNEXUS_BIN").is_none() {
        bail!("set WRNEXUS_BIN to the wrnexus binary to soak\n{USAGE}");
    }
    let bin = e2e(wrnexus_e2e::process::binary())?;
    println!("soak: {}", wrnexus_benches::machine::describe());
    println!(
        "binary under test: {}\nsettings: {} gateways; maximum over {:.0} s with {} workers; soak {:.0} s at {:.0} % of it, a sample every {:.0} s, warm-up {:.0} % of the soak",
        bin.display(),
        settings.gateways,
        settings.max_duration.as_secs_f64(),
        settings.concurrency,
        settings.soak_duration.as_secs_f64(),
        settings.fraction * 100.0,
        settings.sample_every.as_secs_f64(),
        settings.warmup_fraction * 100.0,
    );
    let started = Instant::now();
    let report = e2e(soak::run(&settings, &mut |line| println!("{line}")).await)?
        .context("Postgres or redis-server is unavailable (WRNEXUS_TEST_POSTGRES_URL)")?;
    println!("\n{}", report.render());
    println!("total run time {:.0} s", started.elapsed().as_secs_f64());
    let worst = report.worst_growth().context("no process watched")?;
    if report.total_errors() > 0 || worst.growth >= GROWTH_BOUND {
        println!(
            "FAIL: {} errors; worst memory growth {:+.2} % ({}), the bound is {:.0} %",
            report.total_errors(),
            worst.growth * 100.0,
            worst.process,
            GROWTH_BOUND * 100.0
        );
        std::process::exit(1);
    }
    println!(
        "PASS: no error; worst memory growth {:+.2} % ({}), under {:.0} %",
        worst.growth * 100.0,
        worst.process,
        GROWTH_BOUND * 100.0
    );
    Ok(())
}
