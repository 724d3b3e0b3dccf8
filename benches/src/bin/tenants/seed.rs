//! Seeding a fresh Postgres database with `scale` personal workspaces, each
//! with its owner, the owner's membership and sessions: migrated by the
//! control plane first, then one `INSERT … SELECT … FROM generate_series`
//! per table, in the schema's own form.
//!
//! Ids are derived from the row number (`md5('tenants-user-' || i)` as a
//! UUID), so the measuring side can name any principal without reading the
//! tables: user `i` owns workspace `i`; session `j` belongs to user
//! `(j - 1) / sessions_per_user + 1`.

use anyhow::{Context, Result, bail};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};
use wrnexus_e2e::process::Proc;
use wrnexus_e2e::services::postgres_admin_url;
use wrnexus_e2e::stack::{ASSERTION_KEY, GATEWAY_TOKEN, OPERATOR_TOKEN, example_config};

/// Sessions the working set draws from: at small scales each owner has
/// several, so every scale offers at least this many distinct sessions.
pub const MIN_SESSIONS: u64 = 1_000;

/// Session lifetime of the seeded rows and of the tokens minted for them.
pub const SESSION_TTL_SECS: i64 = 7 * 24 * 3600;

/// What one seeding did, and how long each step took.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub scale: u64,
    pub sessions_per_user: u64,
    pub migrate: Duration,
    /// (table, rows, time) in insertion order, then `analyze`.
    pub steps: Vec<(&'static str, u64, Duration)>,
    pub total: Duration,
    pub database_bytes: i64,
}

/// How many sessions each owner has at `scale`.
pub fn sessions_per_user(scale: u64) -> u64 {
    MIN_SESSIONS.div_ceil(scale).max(1)
}

/// The database of `scale`'s tables.
pub fn database_name(scale: u64) -> String {
    format!("wrnexus_tenants_{scale}")
}

pub fn database_url(scale: u64) -> String {
    let admin = postgres_admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{}", database_name(scale))
}

/// Drop and create the database, migrate it with the binary under test,
/// and fill it.
pub async fn seed(scale: u64, work_dir: &std::path::Path) -> Result<Seeded> {
    let name = database_name(scale);
    let mut admin = PgConnection::connect(&postgres_admin_url())
        .await
        .context("connecting to Postgres (WRNEXUS_TEST_POSTGRES_URL)")?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let url = database_url(scale);

    let started = Instant::now();
    migrate(&url, work_dir)?;
    let migrate = started.elapsed();

    let mut conn = PgConnection::connect(&url).await?;
    let per_user = sessions_per_user(scale);
    let sessions = scale * per_user;
    let now = unix_now();
    let (n, n_sessions, per) = (
        i64::try_from(scale)?,
        i64::try_from(sessions)?,
        i64::try_from(per_user)?,
    );
    let mut steps = Vec::new();

    let t = Instant::now();
    let done = sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at, last_workspace_id, version, \
         email_verified_at) \
         SELECT md5('tenants-user-' || i)::uuid::text, 'tenant-' || i || '@tenants.example.com', \
         $2, $3, md5('tenants-ws-' || i)::uuid::text, 1, $3 \
         FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(n)
    .bind(PASSWORD_HASH)
    .bind(now)
    .execute(&mut conn)
    .await
    .context("seeding users")?;
    steps.push(check_rows("users", done.rows_affected(), scale, t)?);

    let t = Instant::now();
    let done = sqlx::query(
        "INSERT INTO workspaces (id, name, kind, personal_owner_id, status, plan, created_at, \
         version) \
         SELECT md5('tenants-ws-' || i)::uuid::text, 'tenant-' || i || '''s workspace', \
         'personal', md5('tenants-user-' || i)::uuid::text, 'active', 'free', $2, 1 \
         FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(n)
    .bind(now)
    .execute(&mut conn)
    .await
    .context("seeding workspaces")?;
    steps.push(check_rows("workspaces", done.rows_affected(), scale, t)?);

    let t = Instant::now();
    let done = sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) \
         SELECT md5('tenants-ws-' || i)::uuid::text, md5('tenants-user-' || i)::uuid::text, \
         'owner', $2, 1 \
         FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(n)
    .bind(now)
    .execute(&mut conn)
    .await
    .context("seeding memberships")?;
    steps.push(check_rows("memberships", done.rows_affected(), scale, t)?);

    let t = Instant::now();
    let done = sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, version, last_seen_at, amr, \
         auth_time) \
         SELECT md5('tenants-session-' || j)::uuid::text, \
         md5('tenants-user-' || ((j - 1) / $2 + 1))::uuid::text, $3, $4, 1, $3, 'pwd', $3 \
         FROM generate_series(1, $1::bigint) AS j",
    )
    .bind(n_sessions)
    .bind(per)
    .bind(now)
    .bind(now + SESSION_TTL_SECS)
    .execute(&mut conn)
    .await
    .context("seeding sessions")?;
    steps.push(check_rows("sessions", done.rows_affected(), sessions, t)?);
    // Versions are taken from this counter: nothing seeded may be newer.
    sqlx::query("UPDATE counters SET value = GREATEST(value, 1) WHERE name = 'decision'")
        .execute(&mut conn)
        .await?;
    let t = Instant::now();
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    steps.push(("vacuum analyze", 0, t.elapsed()));
    let database_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await?;
    Ok(Seeded {
        scale,
        sessions_per_user: per_user,
        migrate,
        steps,
        total: started.elapsed(),
        database_bytes,
    })
}

/// The step's line, if it inserted the rows it should have.
fn check_rows(
    table: &'static str,
    got: u64,
    want: u64,
    started: Instant,
) -> Result<(&'static str, u64, Duration)> {
    if got != want {
        bail!("{table}: {got} rows inserted, {want} expected");
    }
    Ok((table, want, started.elapsed()))
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `wrnexus migrate` on the example config, pointed at `url`.
fn migrate(url: &str, dir: &std::path::Path) -> Result<()> {
    let config = example_config().display().to_string();
    let mut proc = Proc::spawn(
        "migrate",
        dir,
        &["migrate", "--config", &config],
        &[
            ("WRNEXUS_CONTROL_PLANE__DATABASE_URL", url),
            ("WRNEXUS_CONTROL_PLANE__MIGRATE_DATABASE_URL", url),
            ("WRNEXUS_CONTROL_PLANE__ALLOW_RLS_BYPASS", "true"),
            ("WRNEXUS_OPERATOR_TOKEN", OPERATOR_TOKEN),
            ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
            ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
        ],
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let status = proc
        .wait_exit(Duration::from_secs(300))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !status.success() {
        bail!("wrnexus migrate failed ({status}):\n{}", proc.output());
    }
    Ok(())
}

/// Every seeded user's password hash: an argon2id hash (PHC string) that
/// matches no password. Sign-in checks copy a real one onto a few users.
pub const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dGVuYW50cy1zZWVk$\
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Keep `line` (the seeding's report) with the database, for the tables
/// printed by later measurements.
pub async fn keep_note(scale: u64, line: &str) -> Result<()> {
    let mut admin = PgConnection::connect(&postgres_admin_url()).await?;
    let quoted = line.replace('\'', "''");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "COMMENT ON DATABASE {} IS '{quoted}'",
        database_name(scale)
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}

/// The seeding's report kept with the database, if any.
pub async fn note(scale: u64) -> Result<Option<String>> {
    let mut admin = PgConnection::connect(&postgres_admin_url()).await?;
    Ok(sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(database_name(scale))
    .fetch_optional(&mut admin)
    .await?
    .flatten())
}
