//! Memory of a gateway holding many principals: its resident set idle
//! (started, one request), then after each of `count` distinct sessions has
//! been decided once, and whether the cache really holds them all (a second
//! pass over every one of them, counting cache misses).

use crate::fleet::{Fleet, GatewaySettings, rss_bytes};
use crate::load::{self, Pass};
use crate::metrics;
use crate::principals::{self, Rng};
use crate::seed::{self, sessions_per_user};
use anyhow::{Result, bail};
use std::time::Duration;

/// One configuration's figures.
#[derive(Debug, Clone)]
pub struct RssResult {
    pub label: &'static str,
    pub gateway: GatewaySettings,
    pub principals: usize,
    pub idle: u64,
    pub filled: u64,
    pub fill: Pass,
    pub check: Pass,
    /// Requests of the second pass whose data was all in the local cache.
    pub held: f64,
}

impl RssResult {
    pub fn growth(&self) -> i64 {
        i64::try_from(self.filled).unwrap_or(i64::MAX) - i64::try_from(self.idle).unwrap_or(0)
    }
}

/// One memory run: a configuration on the database of `scale`.
#[derive(Debug, Clone)]
pub struct RssRun {
    pub label: &'static str,
    pub scale: u64,
    /// Distinct principals decided.
    pub count: u64,
    pub gateway: GatewaySettings,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub seed: u64,
}

/// Measure `run`'s configuration on its seeded database.
pub async fn measure(run: &RssRun) -> Result<RssResult> {
    if sessions_per_user(run.scale) != 1 || run.scale < run.count {
        bail!(
            "{} distinct principals need a seeded scale of at least {}",
            run.count,
            run.count
        );
    }
    let url = seed::database_url(run.scale);
    let fleet = Fleet::start(&url, &run.gateway).await?;
    let result = fill_and_check(run, &fleet, &url).await;
    if result.is_err() {
        eprintln!("{}", fleet.logs());
    }
    result
}

async fn fill_and_check(run: &RssRun, fleet: &Fleet, url: &str) -> Result<RssResult> {
    let RssRun {
        label,
        scale,
        count,
        concurrency,
        seed,
        ..
    } = *run;
    let gateway = &run.gateway;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let indices = principals::spread(scale, count + 1, &mut rng);
    let mut all = principals::load(url, scale, &indices).await?;
    let Some(first) = all.pop() else {
        bail!("no principals");
    };
    let target = format!("{}/app/items", fleet.stack.gateway);
    let one = load::once(std::slice::from_ref(&first), &target, 1).await?;
    if one.ok() != 1 {
        bail!("the first request answered {:?}", one.statuses);
    }
    let pid = fleet.gateway_pid;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_bytes(pid)?;

    let fill = load::once(&all, &target, concurrency).await?;
    if fill.ok() != all.len() {
        bail!(
            "first pass: {:?} for {} principals",
            fill.statuses,
            all.len()
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let filled = rss_bytes(pid)?;

    let http = reqwest::Client::new();
    let before = metrics::scrape(&http, &fleet.stack.admin).await?;
    let check = load::once(&all, &target, concurrency).await?;
    let after = metrics::scrape(&http, &fleet.stack.admin).await?;
    let delta = metrics::delta(&before, &after);
    Ok(RssResult {
        label,
        gateway: gateway.clone(),
        principals: all.len(),
        idle,
        filled,
        fill,
        held: check.requests as f64 - delta.misses,
        check,
    })
}
