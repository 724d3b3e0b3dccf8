//! Test databases: a fresh SQLite file, and a fresh Postgres database that
//! the suite reaches as the service role (row-level security in force).

#![allow(dead_code)]

pub mod billing;
pub mod http;
pub mod team;

use sqlx::Connection;
use std::future::Future;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::{Store, sqlite_url};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The login role the Postgres suites connect as: a member of
/// `wrnexus_app`, neither owner of the tables nor able to bypass RLS.
pub const SERVICE_ROLE: &str = "wrnexus_test_service";

pub fn admin_url() -> String {
    std::env::var("WRNEXUS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh Postgres database, migrated by the owner: `(owner url, service
/// url)`. `None` (after a loud message) when Postgres is down, unless
/// `WRNEXUS_REQUIRE_SERVICES=1`, where that is a failure.
pub async fn postgres() -> TestResult<Option<(String, String)>> {
    sqlx::any::install_default_drivers();
    let admin = admin_url();
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            return Err(format!("postgres is required but unavailable: {e}").into());
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING the Postgres suite: {e} !!!\n");
            return Ok(None);
        }
    };
    let name = format!("wrnexus_cp_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let owner = format!("{base}/{name}");
    // The owner applies the migrations (which create `wrnexus_app`).
    Store::connect(&owner, Pusher::none()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {SERVICE_ROLE} LOGIN IN ROLE wrnexus_app; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )))
    .execute(&mut conn)
    .await?;
    let service = owner.replacen("postgres@", &format!("{SERVICE_ROLE}@"), 1);
    Ok(Some((owner, service)))
}

/// Run `suite` on a fresh SQLite file and on a fresh Postgres database
/// reached as the service role.
pub async fn on_both<F, Fut>(suite: F) -> TestResult
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    let sqlite = Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), Pusher::none()).await?;
    suite(sqlite).await.map_err(|e| format!("sqlite: {e}"))?;
    if let Some((_, service)) = postgres().await? {
        let pg = Store::connect_without_migrating(&service, Pusher::none()).await?;
        suite(pg).await.map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}
