//! The soak: a split fleet (one control plane, two gateways, the demo
//! upstream, a fresh Postgres database, a private `redis-server`) driven
//! first at its maximum (a closed loop), then for a long while in an open
//! loop at a fraction of that maximum, sampling requests, errors, latency
//! and each process's resident memory as it goes.
//!
//! The short form runs in `cargo test` (`tests/tests/soak.rs`), the long
//! one is `benches/src/bin/soak.rs`; both call [`run`] and print
//! [`Report::render`].
//!
//! An error is any answer but the one expected of its request (2xx for an
//! allowed one, 403 for a denied one), or a transport error. Memory growth
//! is measured after a warm-up, per process, between the median resident
//! set of the first three samples after it and that of the last three.

mod fleet;
mod load;
mod report;

pub use report::{Growth, Report, Sample};

use crate::TestResult;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Gateways in the fleet (at least one).
    pub gateways: usize,
    /// Phase 1: concurrent workers of the closed loop.
    pub concurrency: usize,
    /// Phase 1: the closed loop's unmeasured start (connections, caches).
    pub max_warmup: Duration,
    /// Phase 1: how long the maximum is measured.
    pub max_duration: Duration,
    /// Phase 2: the open loop's rate as a fraction of the maximum.
    pub fraction: f64,
    /// Phase 2: how long.
    pub soak_duration: Duration,
    /// Phase 2: one sample every so often.
    pub sample_every: Duration,
    /// Phase 2: the part of the soak left out of the memory growth (at
    /// least one sample).
    pub warmup_fraction: f64,
    /// Phase 2: most requests in flight at once (the open loop waits for
    /// one to finish beyond that, and counts the request as behind).
    pub max_in_flight: usize,
}

impl Settings {
    /// The long form: 30 minutes at half the maximum, a sample every 30 s.
    pub fn long() -> Settings {
        Settings {
            gateways: 2,
            concurrency: 32,
            max_warmup: Duration::from_secs(3),
            max_duration: Duration::from_secs(20),
            fraction: 0.5,
            soak_duration: Duration::from_secs(1800),
            sample_every: Duration::from_secs(30),
            warmup_fraction: 0.2,
            max_in_flight: 512,
        }
    }

    /// The short form for `cargo test`: 60 s at half the maximum, a sample
    /// every 5 s; `WRNEXUS_SOAK_SECS` and `WRNEXUS_SOAK_FRACTION` change
    /// the length and the fraction.
    pub fn short_from_env() -> TestResult<Settings> {
        let mut settings = Settings {
            max_warmup: Duration::from_secs(2),
            max_duration: Duration::from_secs(8),
            soak_duration: Duration::from_secs(60),
            sample_every: Duration::from_secs(5),
            ..Settings::long()
        };
        if let Ok(secs) = std::env::var("WRNEXUS_SOAK_SECS") {
            let secs: u64 = secs
                .parse()
                .map_err(|e| format!("WRNEXUS_SOAK_SECS: {secs}: {e}"))?;
            settings.soak_duration = Duration::from_secs(secs.max(1));
            // About a dozen samples or more, none under 5 s.
            settings.sample_every = Duration::from_secs((secs / 12).clamp(5, 30));
        }
        if let Ok(fraction) = std::env::var("WRNEXUS_SOAK_FRACTION") {
            settings.fraction = fraction
                .parse()
                .map_err(|e| format!("WRNEXUS_SOAK_FRACTION: {fraction}: {e}"))?;
        }
        settings.check()?;
        Ok(settings)
    }

    /// Refuse settings that cannot give a report.
    pub fn check(&self) -> TestResult {
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            return Err(format!("fraction {} is not in (0, 1]", self.fraction).into());
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return Err(format!("warm-up {} is not in [0, 1)", self.warmup_fraction).into());
        }
        if self.sample_every.is_zero() || self.soak_duration < self.sample_every * 2 {
            return Err("the soak needs at least two samples".into());
        }
        if self.max_duration.is_zero() || self.concurrency == 0 || self.max_in_flight == 0 {
            return Err("the maximum needs a duration and workers".into());
        }
        Ok(())
    }

    /// Samples in the soak.
    pub fn samples(&self) -> usize {
        let n = self.soak_duration.as_secs_f64() / self.sample_every.as_secs_f64();
        (n.round() as usize).max(2)
    }

    /// Samples of the warm-up: the first `warmup_fraction` of the soak, at
    /// least one, and never all but one.
    pub fn warmup_samples(&self) -> usize {
        let n = self.samples();
        let warm = (self.warmup_fraction * n as f64).ceil() as usize;
        warm.clamp(1, n - 1)
    }
}

/// Start the fleet, run both phases and stop it. `Ok(None)` when Postgres
/// or `redis-server` is missing (after the loud skip of
/// [`crate::services`]; an error under `WRNEXUS_REQUIRE_SERVICES=1`).
/// `progress` is told each line of the report as it is measured.
pub async fn run(
    settings: &Settings,
    progress: &mut dyn FnMut(&str),
) -> TestResult<Option<Report>> {
    settings.check()?;
    let Some(mut fleet) = fleet::Fleet::start(settings.gateways).await? else {
        return Ok(None);
    };
    let result = measure(&mut fleet, settings, progress).await;
    if let Err(e) = &result {
        let logs = fleet.stack.logs();
        let tail = logs
            .char_indices()
            .rev()
            .nth(8000)
            .map_or(logs.as_str(), |(i, _)| &logs[i..]);
        return Err(format!("{e}\n--- end of the fleet's logs ---\n{tail}").into());
    }
    result.map(Some)
}

async fn measure(
    fleet: &mut fleet::Fleet,
    settings: &Settings,
    progress: &mut dyn FnMut(&str),
) -> TestResult<Report> {
    let targets = fleet::prepare(&fleet.gateways).await?;
    progress(&format!(
        "fleet: {} gateways, a control plane, the demo upstream; {} kinds of request ({} of them denied), POSTs with a JSON body",
        fleet.gateways.len(),
        targets.len(),
        targets.iter().filter(|t| !t.allowed).count(),
    ));
    let driver = load::Driver::new(&fleet.gateways, targets, settings.concurrency)?;
    driver.settle(Duration::from_secs(5)).await?;
    let max = driver
        .closed_loop(
            settings.concurrency,
            settings.max_warmup,
            settings.max_duration,
        )
        .await;
    progress(&format!(
        "maximum: {:.0} requests/s over {:.0} s with {} workers (p50 {:.1} ms, p99 {:.1} ms, {} errors)",
        max.rate(),
        max.seconds,
        settings.concurrency,
        max.p50_ms,
        max.p99_ms,
        max.errors
    ));
    if max.requests == 0 {
        return Err("no request completed while measuring the maximum".into());
    }
    let rate = max.rate() * settings.fraction;
    let processes = fleet.watched();
    let mut report = Report::new(settings, max, rate, &processes);
    progress(&format!(
        "soak: {rate:.0} requests/s for {:.0} s, a sample every {:.0} s",
        settings.soak_duration.as_secs_f64(),
        settings.sample_every.as_secs_f64()
    ));
    progress(&report.header());
    let mut soak = driver.open_loop(rate, settings.max_in_flight);
    for k in 1..=settings.samples() {
        let at = settings.sample_every * u32::try_from(k)?;
        let last = k == settings.samples();
        if last {
            soak.stop_at(at).await;
        } else {
            soak.sleep_until(at).await;
        }
        let interval = soak.take();
        fleet.check_running()?;
        let rss = fleet.rss(&processes)?;
        let sample = Sample::new(soak.elapsed(), &interval, rss);
        report.add(sample, &interval);
        progress(&report.row(report.samples.len() - 1));
    }
    report.behind = soak.behind();
    if report.total_errors() > 0 {
        report.warnings = fleet.warnings(20);
    }
    Ok(report)
}
