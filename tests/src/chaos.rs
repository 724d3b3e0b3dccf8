//! Chaos under load: three gateways and two control planes on Postgres and
//! Redis (one node, Sentinel or Cluster), a steady load of allowed, denied
//! and revoked requests, and faults injected while it runs: Redis nodes
//! killed and restarted, a control plane and a gateway killed and started
//! again, Postgres cut off, a gateway cut off from Redis. The demo upstream
//! records every request it receives; afterwards each one is checked
//! against what the policies and the membership timeline allow.
//!
//! - [`fleet`] — the processes, and the proxies that cut them off.
//! - [`topology`] — the Redis under test, and how it fails.
//! - [`load`] — the principals and the workers sending as them.
//! - [`schedule`] — one cycle of revocations and faults, on a timeline.
//! - [`check`] — every recorded and sent request against the timeline;
//!   the figures.

pub mod check;
pub mod fleet;
pub mod load;
pub mod schedule;
pub mod topology;

use crate::TestResult;

/// Milliseconds since the Unix epoch (the demo upstream's record clock).
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// How a run is shaped: the short form in `cargo test`, longer forms from
/// the environment (`WRNEXUS_CHAOS_CYCLES`).
#[derive(Debug, Clone)]
pub struct Shape {
    /// How many rounds of revocations and faults.
    pub cycles: usize,
    /// The gateways' staleness bound, seconds.
    pub stale_bound_secs: u64,
    /// Pause between two requests of one principal, milliseconds.
    pub interval_ms: u64,
}

impl Shape {
    /// One cycle unless `WRNEXUS_CHAOS_CYCLES` asks for more.
    pub fn from_env() -> TestResult<Shape> {
        let cycles = match std::env::var("WRNEXUS_CHAOS_CYCLES") {
            Ok(v) => v
                .parse::<usize>()
                .map_err(|_| format!("WRNEXUS_CHAOS_CYCLES: `{v}` is not a count"))?
                .max(1),
            Err(_) => 1,
        };
        Ok(Shape {
            cycles,
            stale_bound_secs: 2,
            interval_ms: 50,
        })
    }
}

/// Run the whole thing on `topology`: the figures, or what was violated.
pub async fn run(topology: topology::Kind, shape: &Shape) -> TestResult<Option<check::Figures>> {
    let dir = tempfile::tempdir()?;
    let Some(mut fleet) = fleet::Fleet::start(dir.path(), topology, shape).await? else {
        return Ok(None);
    };
    let outcome = schedule::drive(&mut fleet, shape).await;
    let outcome = match outcome {
        Ok(timeline) => {
            let record = fleet.record()?;
            check::check(&timeline, &record, shape)
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(figures) => Ok(Some(figures)),
        Err(e) => Err(format!("{e}\n{}", fleet.logs()).into()),
    }
}
