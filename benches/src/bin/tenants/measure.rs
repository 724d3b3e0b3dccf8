//! One scale's measurement: the stack on its seeded database, the seeded
//! principals checked, a working set warmed (first sight: Redis, then the
//! control plane), then closed-loop wrk rounds rotating over it.

use crate::fleet::{Fleet, GatewaySettings};
use crate::load::{self, Pass, WrkRun, WrkSettings};
use crate::principals::{self, Rng};
use crate::seed::{self, sessions_per_user};
use anyhow::{Context, Result, bail};
use sqlx::{Connection, PgConnection};

/// Settings of the scale runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub working_set: u64,
    pub rounds: usize,
    pub wrk: WrkSettings,
    pub gateway: GatewaySettings,
    pub proxy_cpu: usize,
    pub seed: u64,
}

/// What one scale gave.
#[derive(Debug, Clone)]
pub struct ScaleResult {
    pub scale: u64,
    pub sessions: u64,
    pub working_set: usize,
    /// Distinct owners of the working set's sessions (fewer than the
    /// sessions at small scales, where owners have several).
    pub owners: usize,
    pub database_bytes: i64,
    /// First sight of each working-set principal.
    pub warm: Pass,
    pub runs: Vec<WrkRun>,
}

/// Rows in the seeded database: (workspaces, sessions, size in bytes).
pub async fn seeded_rows(scale: u64) -> Result<(u64, u64, i64)> {
    let mut conn = PgConnection::connect(&seed::database_url(scale))
        .await
        .with_context(|| format!("no seeded database for {scale}: run `tenants seed {scale}`"))?;
    let (workspaces, sessions, bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM workspaces), (SELECT count(*) FROM sessions), \
         pg_database_size(current_database())",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok((u64::try_from(workspaces)?, u64::try_from(sessions)?, bytes))
}

pub async fn scale(scale: u64, settings: &Settings) -> Result<ScaleResult> {
    let (workspaces, sessions, database_bytes) = seeded_rows(scale).await?;
    // The probe users and sign-ins of earlier runs add a few rows.
    if workspaces < scale || sessions < scale * sessions_per_user(scale) {
        bail!(
            "database of {scale} holds {workspaces} workspaces, {sessions} sessions: seed it again"
        );
    }
    let url = seed::database_url(scale);
    let fleet = Fleet::start(&url, &settings.gateway).await?;
    let result = run(scale, settings, &fleet, &url, database_bytes).await;
    if result.is_err() {
        eprintln!("{}", fleet.logs());
    }
    result
}

async fn run(
    scale: u64,
    settings: &Settings,
    fleet: &Fleet,
    url: &str,
    database_bytes: i64,
) -> Result<ScaleResult> {
    let seeded_sessions = scale * sessions_per_user(scale);
    let mut rng = Rng::new(settings.seed ^ scale);
    let indices = principals::spread(seeded_sessions, settings.working_set, &mut rng);
    let set = principals::load(url, scale, &indices).await?;
    // Check a few principals away from the working set, then warm it.
    let others = principals::spread(seeded_sessions, 8, &mut rng);
    let sample = principals::load(url, scale, &others).await?;
    principals::validate(fleet, &sample).await?;

    fleet.pin(settings.proxy_cpu, settings.wrk.load_cpu)?;
    let target = format!("{}/app/items", fleet.stack.gateway);
    let warm = load::once(&set, &target, settings.wrk.connections).await?;
    if warm.ok() != set.len() {
        bail!("warming: {:?} for {} principals", warm.statuses, set.len());
    }
    let cookies = std::env::temp_dir().join(format!(
        "wrnexus-tenants-cookies-{}-{scale}",
        std::process::id()
    ));
    std::fs::write(
        &cookies,
        set.iter().map(|p| p.cookie() + "\n").collect::<String>(),
    )?;
    let pid = fleet.gateway_pid;
    let admin = &fleet.stack.admin;
    let result = async {
        // Connections open, the rotation's pace reached; not counted.
        load::wrk(&settings.wrk, &target, &cookies, pid, admin, 2).await?;
        let mut runs = Vec::new();
        for _ in 0..settings.rounds {
            let duration = settings.wrk.duration_secs;
            runs.push(load::wrk(&settings.wrk, &target, &cookies, pid, admin, duration).await?);
        }
        anyhow::Ok(runs)
    }
    .await;
    let _ = std::fs::remove_file(&cookies);
    Ok(ScaleResult {
        scale,
        sessions: seeded_sessions,
        working_set: set.len(),
        owners: set
            .iter()
            .map(|p| p.user_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        database_bytes,
        warm,
        runs: result?,
    })
}
