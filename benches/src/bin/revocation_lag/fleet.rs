//! The fleet under test: one control plane, several gateways, the demo
//! upstream, a fresh Postgres database and a private `redis-server`.

use anyhow::{Context, Result};
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres, postgres_admin_url};
use wrnexus_e2e::stack::Stack;

/// Rate limits raised so that preparing hundreds of subjects from one
/// loopback address is not refused (the defaults guard people's doors).
const CONTROL_PLANE_ENV: &[(&str, &str)] = &[
    ("WRNEXUS_CONTROL_PLANE__SIGNIN_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__ACCEPT_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__INVITE_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__ACCOUNT_RATE_PER_MINUTE", "1000000"),
];

/// One gateway: its proxy and admin base URLs.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub url: String,
    pub admin: String,
}

/// A running fleet; dropping it stops every process.
pub struct Fleet {
    pub stack: Stack,
    pub gateways: Vec<Gateway>,
    pub database_url: String,
    // Kept for the fleet's lifetime (dropping stops the server).
    redis: PrivateRedis,
    redis_dir: std::path::PathBuf,
}

pub use wrnexus_benches::harness::e2e;

impl Fleet {
    /// Start the fleet with `gateways` gateways (at least one).
    pub async fn start(gateways: usize) -> Result<Fleet> {
        let database_url = e2e(fresh_postgres().await)?
            .context("Postgres is unavailable (set WRNEXUS_TEST_POSTGRES_URL)")?;
        let redis_dir = std::env::temp_dir().join(format!(
            "wrnexus-revocation-lag-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&redis_dir)?;
        let redis =
            e2e(PrivateRedis::start(&redis_dir).await)?.context("redis-server is not installed")?;
        let redis_url = redis.url();
        let mut stack =
            e2e(Stack::split_with_env(&database_url, &redis_url, &[], CONTROL_PLANE_ENV).await)?;
        let mut list = vec![Gateway {
            url: stack.gateway.clone(),
            admin: stack.admin.clone(),
        }];
        for _ in 1..gateways.max(1) {
            let (url, admin) = e2e(stack.add_gateway(&redis_url).await)?;
            list.push(Gateway { url, admin });
        }
        Ok(Fleet {
            stack,
            gateways: list,
            database_url,
            redis,
            redis_dir,
        })
    }

    /// The control plane's JSON API base, e.g. `http://127.0.0.1:4100/v1`.
    pub fn api(&self) -> String {
        format!("{}/v1", self.stack.control_plane)
    }

    /// Stop every process and drop the database this run created.
    pub async fn stop(self) -> Result<()> {
        let Fleet {
            stack,
            database_url,
            redis,
            redis_dir,
            ..
        } = self;
        drop(stack);
        drop(redis);
        std::fs::remove_dir_all(&redis_dir)?;
        drop_database(&database_url).await
    }
}

async fn drop_database(database_url: &str) -> Result<()> {
    use sqlx::Connection;
    let name = database_url
        .rsplit('/')
        .next()
        .filter(|n| n.starts_with("wrnexus_test_"))
        .context("not a database this harness created")?;
    let mut conn = sqlx::AnyConnection::connect(&postgres_admin_url()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}
