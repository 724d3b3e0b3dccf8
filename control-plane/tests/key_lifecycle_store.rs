//! Keys that go with their person, seen from the store on SQLite and
//! Postgres: each revocation reaches the gateways through Redis like any
//! other (a newer revoked entry and an invalidation), and keys from before
//! people were recorded find their person when the schema is upgraded.

mod common;

use common::TestResult;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Connection, SqlStr};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::audit::{ActorKind, Meta};
use wrnexus_control_plane::store::{Backend, Store, sqlite_url};
use wrnexus_policies::entries::INVALIDATION_CHANNEL;
use wrnexus_policies::{Entry, EntryKey, Invalidation, Role, VersionedEntry};

fn redis_url() -> String {
    std::env::var("WRNEXUS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether Redis holds `key_id` as a revoked key.
async fn revoked_in_redis(conn: &mut MultiplexedConnection, key_id: &str) -> TestResult<bool> {
    let body: Option<String> = redis::cmd("GET")
        .arg(EntryKey::ApiKey(key_id.to_string()).cache_key())
        .query_async(conn)
        .await?;
    let entry: VersionedEntry = serde_json::from_str(&body.ok_or("no entry in redis")?)?;
    match entry.entry {
        Entry::ApiKey { revoked, .. } => Ok(revoked),
        other => Err(format!("not a key entry: {other:?}").into()),
    }
}

/// Sorted.
fn set(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// One engine's run: remove a member, sign them out everywhere, disable
/// them; every key behind them is pushed revoked and announced.
async fn pushes_on(store: Store, conn: &mut MultiplexedConnection) -> TestResult {
    let client = redis::Client::open(redis_url())?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(INVALIDATION_CHANNEL).await?;
    let meta = Meta::system();
    let ann = store.sign_up("ann@example.com", "hash", &meta).await?;
    let bob = store.sign_up("bob@example.com", "hash", &meta).await?;
    let (ann_id, bob_id) = (ann.user.id.clone(), bob.user.id.clone());
    let team = store
        .create_team_workspace(&ann_id, "Team", &meta)
        .await?
        .id;
    store
        .create_invitation(&team, "bob@example.com", Role::Admin, "bob", 3600, &meta)
        .await?;
    store
        .accept_invitation("bob", &bob_id, "bob@example.com", &meta)
        .await?;
    let as_ann = meta.with_actor(ActorKind::User, &ann_id);
    let as_bob = meta.with_actor(ActorKind::User, &bob_id);
    let key = |workspace: String, by: Meta| {
        let store = store.clone();
        async move {
            let (key, _) = store
                .create_api_key(&workspace, "k", Role::Member, None, None, &by)
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(key)
        }
    };
    let team_key = key(team.clone(), as_bob.clone()).await?;
    let chained = key(
        team.clone(),
        meta.with_actor(ActorKind::ApiKey, &team_key.id),
    )
    .await?;
    assert_eq!(chained.created_by_user.as_deref(), Some(bob_id.as_str()));
    let own = key(bob.workspace_id.clone(), as_bob.clone()).await?;
    let anns = key(team.clone(), as_ann.clone()).await?;

    let removal = store.remove_member(&team, &bob_id, &as_ann).await?;
    assert_eq!(removal.revoked.api_keys, set(&[&team_key.id, &chained.id]));
    let ended = store.revoke_all_sessions(&bob_id, &as_bob).await?;
    assert_eq!(ended.revoked.api_keys, set(&[&own.id]));
    let later = key(bob.workspace_id.clone(), as_bob.clone()).await?;
    let disabled = store.disable_user(&bob_id, &meta).await?;
    assert_eq!(disabled.revoked.api_keys, set(&[&later.id]));

    let gone = [&team_key.id, &chained.id, &own.id, &later.id];
    for id in gone {
        assert!(
            revoked_in_redis(conn, id).await?,
            "{id} not revoked in redis"
        );
    }
    assert!(
        !revoked_in_redis(conn, &anns.id).await?,
        "ann's key revoked"
    );
    // Each was announced (other suites share the channel: filter).
    let mut waiting: BTreeSet<String> = gone
        .iter()
        .map(|id| EntryKey::ApiKey(id.to_string()).cache_key())
        .collect();
    let mut messages = pubsub.on_message();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !waiting.is_empty() {
            let Some(message) = messages.next().await else {
                break;
            };
            let payload: String = message.get_payload()?;
            let invalidation: Invalidation = serde_json::from_str(&payload)?;
            waiting.remove(&invalidation.key);
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await
    .map_err(|_| format!("not announced: {waiting:?}"))??;
    Ok(())
}

#[tokio::test]
async fn keys_revoked_with_their_person_reach_the_gateways() -> TestResult {
    let client = redis::Client::open(redis_url())?;
    let mut conn = match client.get_multiplexed_async_connection().await {
        Ok(c) => c,
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            return Err(format!("redis is required but unavailable: {e}").into());
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING the Redis suite: {e} !!!\n");
            return Ok(());
        }
    };
    let url = redis_url();
    let pusher = || Pusher::with_redis(&url, Duration::from_secs(60));
    let dir = tempfile::tempdir()?;
    let sqlite = Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), pusher().await?).await?;
    pushes_on(sqlite, &mut conn)
        .await
        .map_err(|e| format!("sqlite: {e}"))?;
    if let Some((_, service)) = common::postgres().await? {
        let pg = Store::connect_without_migrating(&service, pusher().await?).await?;
        pushes_on(pg, &mut conn)
            .await
            .map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}

/// The schema as it was before people were recorded (migrations 1–5).
fn old_schema(backend: Backend) -> Migrator {
    let files: [(&str, &str); 5] = [
        (
            include_str!("../migrations/postgres/0001_init.sql"),
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        (
            include_str!("../migrations/postgres/0002_tenancy.sql"),
            include_str!("../migrations/sqlite/0002_tenancy.sql"),
        ),
        (
            include_str!("../migrations/postgres/0003_row_security.sql"),
            include_str!("../migrations/sqlite/0003_row_security.sql"),
        ),
        (
            include_str!("../migrations/postgres/0004_billing.sql"),
            include_str!("../migrations/sqlite/0004_billing.sql"),
        ),
        (
            include_str!("../migrations/postgres/0005_audit_append_only.sql"),
            include_str!("../migrations/sqlite/0005_audit_append_only.sql"),
        ),
    ];
    let migrations = files
        .iter()
        .zip(1..)
        .map(|(&(postgres, sqlite), version)| {
            let sql = if backend == Backend::Postgres {
                postgres
            } else {
                sqlite
            };
            Migration::new(
                version,
                Cow::Borrowed("old"),
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

/// Rows as an old control plane left them: Ann owns Acme, limited to a
/// project; Bob (an admin) made a key, a key with it, and a key with that;
/// an operator and an unknown actor made one each.
const OLD_ROWS: &[&str] = &[
    "INSERT INTO users (id, email, password_hash, created_at, version) VALUES \
     ('ann', 'ann@example.com', 'h', 1, 1), ('bob', 'bob@example.com', 'h', 1, 1)",
    "INSERT INTO workspaces (id, name, kind, created_at, version) VALUES ('acme', 'Acme', 'team', 1, 1)",
    "INSERT INTO memberships (workspace_id, user_id, role, created_at, version, projects) VALUES \
     ('acme', 'ann', 'owner', 1, 1, '[\"web\"]'), ('acme', 'bob', 'admin', 1, 1, NULL)",
    "INSERT INTO api_keys (id, workspace_id, name, secret_hash, role_ceiling, created_by, created_at, version) VALUES \
     ('k1', 'acme', 'bob', 'h', 'member', 'bob', 1, 1), \
     ('k2', 'acme', 'with k1', 'h', 'member', 'k1', 2, 1), \
     ('k3', 'acme', 'with k2', 'h', 'member', 'k2', 3, 1), \
     ('kop', 'acme', 'operator', 'h', 'member', 'operator', 4, 1), \
     ('knull', 'acme', 'nobody', 'h', 'member', NULL, 5, 1)",
];

/// Migrate `url` to the old schema, write the old rows, then let the store
/// upgrade it: Bob's chain of keys is his, the others nobody's, and the
/// owner no longer limited; removing Bob takes exactly his keys.
async fn upgrade(url: &str, backend: Backend, service: Option<&str>) -> TestResult {
    let pool = AnyPool::connect(url).await?;
    old_schema(backend).run(&pool).await?;
    for sql in OLD_ROWS {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&pool)
            .await?;
    }
    pool.close().await;
    Store::connect(url, Pusher::none()).await?;
    let store = Store::connect_without_migrating(service.unwrap_or(url), Pusher::none()).await?;
    let keys = store.api_keys("acme").await?;
    let person = |id: &str| {
        keys.iter()
            .find(|k| k.id == id)
            .map(|k| k.created_by_user.clone())
    };
    for (id, want) in [
        ("k1", Some("bob")),
        ("k2", Some("bob")),
        ("k3", Some("bob")),
        ("kop", None),
        ("knull", None),
    ] {
        assert_eq!(person(id), Some(want.map(str::to_string)), "{id}");
    }
    let ann = store.membership("acme", "ann").await?.ok_or("ann")?;
    assert_eq!((ann.role, ann.projects), (Role::Owner, None));
    let removal = store
        .remove_member(
            "acme",
            "bob",
            &Meta::system().with_actor(ActorKind::User, "ann"),
        )
        .await?;
    assert_eq!(removal.revoked.api_keys, ["k1", "k2", "k3"]);
    Ok(())
}

#[tokio::test]
async fn keys_from_before_the_upgrade_find_their_person() -> TestResult {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir()?;
    let sqlite = sqlite_url(&dir.path().join("old.sqlite"));
    upgrade(&sqlite, Backend::Sqlite, None)
        .await
        .map_err(|e| format!("sqlite: {e}"))?;
    let Some((_, service)) = common::postgres().await? else {
        return Ok(());
    };
    // A second, empty database beside the suite's, upgraded by its owner and
    // then used as the service role.
    let admin = common::admin_url();
    let mut conn = sqlx::AnyConnection::connect(&admin).await?;
    let name = format!("wrnexus_old_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let owner = format!("{base}/{name}");
    let service_base = service
        .rsplit_once('/')
        .map_or(service.as_str(), |(b, _)| b);
    let service = format!("{service_base}/{name}");
    upgrade(&owner, Backend::Postgres, Some(&service))
        .await
        .map_err(|e| format!("postgres: {e}"))?;
    Ok(())
}
