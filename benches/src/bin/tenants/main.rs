//! Costs that grow with tenants: does the gateway's throughput, CPU per
//! request, latency and decision time stay flat as the number of workspaces
//! grows from 10 to 1 000 000, and how much memory does it take to hold
//! 100 000 principals in its caches?
//!
//! ```text
//! tenants seed [SCALE…]      fresh databases wrnexus_tenants_SCALE, migrated
//!                            by the binary under test, then filled
//! tenants measure [SCALE…]   a split stack per scale, a warmed working set,
//!                            closed-loop wrk rounds; a table per scale
//! tenants rss [both|default|raised|local]
//!                            gateway memory idle and holding PRINCIPALS
//!                            sessions (on the database of RSS_SCALE)
//! tenants all                seed, measure, rss
//! ```
//! Scales default to 10 10000 1000000. Settings (environment):
//! `WRNEXUS_BIN` (the release binary under test, required), ROUNDS=3
//! DURATION=10 CONNS=32 WORKING_SET=1000 PROXY_CPU=0 LOAD_CPU=1
//! TOLERANCE=10 (%), SEED (of the draws), RSS_SCALE=1000000
//! PRINCIPALS=100000 RSS_GOAL_MIB=64; Postgres at WRNEXUS_TEST_POSTGRES_URL
//! (default postgres://postgres@127.0.0.1:5432/postgres), `redis-server`,
//! `wrk` and `taskset` on PATH. Not run by CI. See docs/benchmarks.md.

mod fleet;
mod load;
mod measure;
mod metrics;
mod principals;
mod report;
mod rss;
mod seed;

use anyhow::{Context, Result, bail};
use fleet::GatewaySettings;
use load::WrkSettings;

const DEFAULT_SCALES: [u64; 3] = [10, 10_000, 1_000_000];

fn setting<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|e| anyhow::anyhow!("{name}={v}: {e}")),
        Err(_) => Ok(default),
    }
}

/// The gateway as the scale runs configure it: the shipped capacities,
/// one worker thread (one core, as the load benchmark), entries trusted
/// for an hour (no refresh in the middle of a run).
fn gateway_settings() -> GatewaySettings {
    GatewaySettings {
        cache_capacity: 100_000,
        token_cache_capacity: 16_384,
        cache_ttl_secs: 3600,
        threads: 1,
    }
}

fn scales(args: &[String]) -> Result<Vec<u64>> {
    if args.is_empty() {
        return Ok(DEFAULT_SCALES.to_vec());
    }
    args.iter()
        .map(|a| {
            a.replace('_', "")
                .parse()
                .with_context(|| format!("scale `{a}`"))
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        bail!("usage: tenants seed|measure|rss|all [ARGS…] (see the source's opening comment)");
    };
    let binary =
        std::env::var("WRNEXUS_BIN").context("set WRNEXUS_BIN to the release binary under test")?;
    println!("{}", report::machine(&binary));
    let rest = &args[1..];
    match command.as_str() {
        "seed" => seed_all(&scales(rest)?).await,
        "measure" => measure_all(&scales(rest)?).await,
        "rss" => rss_all(rest.first().map_or("both", String::as_str)).await,
        "all" => {
            seed_all(&DEFAULT_SCALES).await?;
            measure_all(&DEFAULT_SCALES).await?;
            rss_all("both").await
        }
        other => bail!("unknown command `{other}`: seed, measure, rss or all"),
    }
}

async fn seed_all(scales: &[u64]) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("wrnexus-tenants-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for &scale in scales {
        let seeded = seed::seed(scale, &dir).await?;
        let line = report::seeded(&seeded);
        seed::keep_note(scale, &line).await?;
        println!("{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn measure_all(scales: &[u64]) -> Result<()> {
    let settings = measure::Settings {
        working_set: setting("WORKING_SET", 1000)?,
        rounds: setting("ROUNDS", 3)?,
        wrk: WrkSettings {
            connections: setting("CONNS", 32)?,
            duration_secs: setting("DURATION", 10)?,
            load_cpu: setting("LOAD_CPU", 1)?,
        },
        gateway: gateway_settings(),
        proxy_cpu: setting("PROXY_CPU", 0)?,
        seed: setting("SEED", seed::unix_now().unsigned_abs())?,
    };
    let tolerance: f64 = setting("TOLERANCE", 10.0)?;
    println!(
        "settings: {} rounds × wrk -t1 -c{} -d{}s (rotating over the working set's cookies), \
         working set {} sessions, gateway on CPU {} (threads {}), everything else on CPU {}; \
         cache_capacity {}, token_cache_capacity {}, cache_ttl_secs {}; seed {}",
        settings.rounds,
        settings.wrk.connections,
        settings.wrk.duration_secs,
        settings.working_set,
        settings.proxy_cpu,
        settings.gateway.threads,
        settings.wrk.load_cpu,
        settings.gateway.cache_capacity,
        settings.gateway.token_cache_capacity,
        settings.gateway.cache_ttl_secs,
        settings.seed,
    );
    let mut results = Vec::new();
    for &scale in scales {
        let r = measure::scale(scale, &settings).await?;
        let note = seed::note(scale).await?;
        let base = results.first().unwrap_or(&r);
        println!("{}", report::scale(&r, base, tolerance, note.as_deref()));
        results.push(r);
    }
    Ok(())
}

async fn rss_all(which: &str) -> Result<()> {
    let scale: u64 = setting("RSS_SCALE", 1_000_000)?;
    let count: u64 = setting("PRINCIPALS", 100_000)?;
    let goal: f64 = setting("RSS_GOAL_MIB", 64.0)?;
    let concurrency: usize = setting("CONNS", 32)?;
    let seed: u64 = setting("SEED", seed::unix_now().unsigned_abs())?;
    let shipped = gateway_settings();
    // Room for every principal's four entries (session, user, membership,
    // workspace) and every token.
    let raised = GatewaySettings {
        cache_capacity: usize::try_from(count)? * 4 + 16_384,
        token_cache_capacity: usize::try_from(count)?.next_power_of_two(),
        ..shipped.clone()
    };
    // The local cache raised alone: what the token cache's share is.
    let local = GatewaySettings {
        token_cache_capacity: shipped.token_cache_capacity,
        ..raised.clone()
    };
    let configs: Vec<(&'static str, GatewaySettings)> = match which {
        "default" => vec![("default", shipped)],
        "raised" => vec![("raised", raised)],
        "local" => vec![("local", local)],
        "both" => vec![("default", shipped), ("raised", raised)],
        other => bail!("rss: `{other}` is not default, raised, local or both"),
    };
    println!(
        "settings: {count} distinct sessions of the {scale}-workspace database, each decided \
         once ({concurrency} at a time), then each again; gateway threads {}, cache_ttl_secs {}; \
         seed {seed}",
        gateway_settings().threads,
        gateway_settings().cache_ttl_secs
    );
    let mut results = Vec::new();
    for (label, settings) in configs {
        let run = rss::RssRun {
            label,
            scale,
            count,
            gateway: settings,
            concurrency,
            seed,
        };
        results.push(rss::measure(&run).await?);
    }
    println!("{}", report::rss(&results, goal));
    Ok(())
}
