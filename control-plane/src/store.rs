//! The tenancy store: one API over Postgres or SQLite (sqlx `Any`), migrations,
//! transactions, and the push of changed decision data after each commit.

pub mod account_changes;
pub mod account_tokens;
pub mod accounts;
pub mod api_key_row;
pub mod api_keys;
pub mod audit;
pub mod audit_row;
pub mod billing;
pub mod decision_data;
pub mod deliveries;
pub mod demotion;
pub mod devices;
pub mod health;
pub mod invitation_admin;
pub mod invitations;
pub mod isolation;
pub mod key_usage;
pub mod made_by;
pub mod mail;
pub mod members;
pub mod membership;
pub mod meta;
pub mod outbox;
pub mod projects;
pub mod revocation;
pub mod scope;
pub mod sessions;
pub mod sign_in_policy;
pub mod sso_attempts;
pub mod sso_connections;
pub mod sso_domain_checks;
pub mod sso_domains;
pub mod sso_identities;
pub mod sso_logout;
pub mod webhooks;
pub mod work;
pub mod workspaces;

use crate::push::Pusher;
use sqlx::SqlStr;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Transaction};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};
use wrnexus_backends::{PostgresTls, is_handshake_error};

/// Changed decision data; the pusher's type, also found here.
pub use crate::push::Changes;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Store failures that callers turn into responses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or invariant conflict, e.g. duplicate email, last owner.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The thing does not exist, or the caller may not know it exists.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// Input the database refused.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    /// Refused for who is asking, e.g. a key above its person's role.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The target is an owner, as read under the workspace lock, and the
    /// caller is not: only an owner may `what`.
    #[error("only an owner can {what}")]
    OwnerRequired { what: &'static str },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}`: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    /// TLS settings that cannot be used, or a TLS handshake that failed.
    #[error(transparent)]
    Tls(#[from] wrnexus_backends::PostgresTlsError),
}

impl StoreError {
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// Whether an error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The store. Cloning is cheap (a pool handle).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    pusher: Pusher,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Connect and bring the schema up to date.
    #[tracing::instrument(name = "store.connect", skip_all)]
    pub async fn connect(url: &str, pusher: Pusher) -> Result<Self, StoreError> {
        let store = Self::connect_without_migrating(url, pusher).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connect only; see [`Store::migrate`].
    #[tracing::instrument(name = "store.connect_without_migrating", skip_all)]
    pub async fn connect_without_migrating(url: &str, pusher: Pusher) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = backend_of(url)?;
        let options = AnyPoolOptions::new();
        let pool = match backend {
            // One writer at a time is SQLite's model; a single connection
            // avoids lock-upgrade failures under concurrent requests.
            Backend::Sqlite => options.max_connections(1).connect(url).await?,
            Backend::Postgres => {
                // `sslmode` and `sslrootcert` checked first; a failed
                // handshake is told in their words.
                let tls = PostgresTls::of_url(url)?;
                match options.max_connections(16).connect(url).await {
                    Err(sqlx::Error::Tls(e)) => return Err(tls.failed(&e.to_string()).into()),
                    Err(sqlx::Error::Io(e)) if is_handshake_error(&e) => {
                        return Err(tls.failed(&e.to_string()).into());
                    }
                    connected => connected?,
                }
            }
        };
        Ok(Store {
            pool,
            backend,
            pusher,
        })
    }

    /// Apply pending migrations for this backend.
    #[tracing::instrument(name = "store.migrate", skip_all)]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator(self.backend).run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn pusher(&self) -> &Pusher {
        &self.pusher
    }

    /// Commit, then push every changed entry (Redis write + invalidation).
    #[tracing::instrument(name = "store.commit", skip_all)]
    pub(crate) async fn commit(
        &self,
        tx: Transaction<'static, Any>,
        changes: Changes,
    ) -> Result<(), StoreError> {
        tx.commit().await?;
        self.pusher.publish(changes).await;
        Ok(())
    }
}

/// Take the next decision-data version. Called inside the writing
/// transaction, so versions follow commit order for each row.
#[tracing::instrument(name = "store.next_version", skip_all)]
pub(crate) async fn next_version(tx: &mut Transaction<'static, Any>) -> Result<i64, StoreError> {
    let v: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'decision' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(v)
}

/// Schema migrations, one SQL file per backend each, compiled in.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "tenancy",
        include_str!("../migrations/postgres/0002_tenancy.sql"),
        include_str!("../migrations/sqlite/0002_tenancy.sql"),
    ),
    (
        3,
        "row security",
        include_str!("../migrations/postgres/0003_row_security.sql"),
        include_str!("../migrations/sqlite/0003_row_security.sql"),
    ),
    (
        4,
        "billing",
        include_str!("../migrations/postgres/0004_billing.sql"),
        include_str!("../migrations/sqlite/0004_billing.sql"),
    ),
    (
        5,
        "audit append-only",
        include_str!("../migrations/postgres/0005_audit_append_only.sql"),
        include_str!("../migrations/sqlite/0005_audit_append_only.sql"),
    ),
    (
        6,
        "key creators",
        include_str!("../migrations/postgres/0006_key_creators.sql"),
        include_str!("../migrations/sqlite/0006_key_creators.sql"),
    ),
    (
        7,
        "key projects",
        include_str!("../migrations/postgres/0007_key_projects.sql"),
        include_str!("../migrations/sqlite/0007_key_projects.sql"),
    ),
    (
        8,
        "front door",
        include_str!("../migrations/postgres/0008_front_door.sql"),
        include_str!("../migrations/sqlite/0008_front_door.sql"),
    ),
    (
        9,
        "single sign-on",
        include_str!("../migrations/postgres/0009_sso.sql"),
        include_str!("../migrations/sqlite/0009_sso.sql"),
    ),
    (
        10,
        "billing clocks",
        include_str!("../migrations/postgres/0010_billing_clocks.sql"),
        include_str!("../migrations/sqlite/0010_billing_clocks.sql"),
    ),
];

fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, postgres, sqlite)| {
            let sql = match backend {
                Backend::Postgres => postgres,
                Backend::Sqlite => sqlite,
            };
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// The database a URL names, or why it names none the store can open.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// A URL without its user and password, for messages and logs.
pub use wrnexus_backends::redact_url;

/// The SQLite URL for a file, created if missing.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A new random id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
