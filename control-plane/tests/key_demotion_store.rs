//! Demotions and races around the person behind a key, seen from the store:
//! a lowered key reaches the gateways through Redis like a revocation (both
//! engines); a key cannot be minted through a session that has ended (both
//! engines); and, on Postgres, where requests really run side by side, a key
//! minted while its person signs out everywhere does not survive, and an
//! admin's demotion waiting behind an owner's promotion of the same member
//! is refused.

mod common;

use common::TestResult;
use common::http::{Api, config};
use common::team::code;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;
use std::time::Duration;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::audit::{ActorKind, Meta};
use wrnexus_control_plane::store::{Store, StoreError, sqlite_url};
use wrnexus_policies::entries::INVALIDATION_CHANNEL;
use wrnexus_policies::{Entry, EntryKey, Invalidation, Role, VersionedEntry};

fn redis_url() -> String {
    std::env::var("WRNEXUS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn required() -> bool {
    std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A team of ann's with bob as admin: `(team, ann, bob)`.
async fn team(store: &Store) -> TestResult<(String, String, String)> {
    let meta = Meta::system();
    let ann = store
        .sign_up("ann@example.com", "hash", &meta)
        .await?
        .user
        .id;
    let bob = store
        .sign_up("bob@example.com", "hash", &meta)
        .await?
        .user
        .id;
    let team = store.create_team_workspace(&ann, "Team", &meta).await?.id;
    store
        .create_invitation(&team, "bob@example.com", Role::Admin, "bob", 3600, &meta)
        .await?;
    store
        .accept_invitation("bob", &bob, "bob@example.com", &meta)
        .await?;
    Ok((team, ann, bob))
}

/// One engine's run: bob's admin key, lowered with him, is pushed lowered
/// (and still live) and announced.
async fn lowered_on(store: Store, conn: &mut redis::aio::MultiplexedConnection) -> TestResult {
    let client = redis::Client::open(redis_url())?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(INVALIDATION_CHANNEL).await?;
    let (team, ann, bob) = team(&store).await?;
    let as_bob = Meta::system().with_actor(ActorKind::User, &bob);
    let (key, _) = store
        .create_api_key(&team, "k", Role::Admin, None, None, &as_bob)
        .await?;
    let as_ann = Meta::system().with_actor(ActorKind::User, &ann);
    store.set_role(&team, &bob, Role::Viewer, &as_ann).await?;

    let cache_key = EntryKey::ApiKey(key.id.clone()).cache_key();
    let body: Option<String> = redis::cmd("GET").arg(&cache_key).query_async(conn).await?;
    let entry: VersionedEntry = serde_json::from_str(&body.ok_or("no entry in redis")?)?;
    match entry.entry {
        Entry::ApiKey {
            role_ceiling,
            revoked,
            ..
        } => assert_eq!((role_ceiling, revoked), (Role::Viewer, false)),
        other => return Err(format!("not a key entry: {other:?}").into()),
    }
    let mut messages = pubsub.on_message();
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = messages.next().await {
            let payload: String = message.get_payload()?;
            let invalidation: Invalidation = serde_json::from_str(&payload)?;
            if invalidation.key == cache_key {
                return Ok(());
            }
        }
        Err::<(), Box<dyn std::error::Error + Send + Sync>>("channel closed".into())
    })
    .await
    .map_err(|_| "the lowered key was not announced")??;
    Ok(())
}

#[tokio::test]
async fn lowered_keys_reach_the_gateways() -> TestResult {
    let client = redis::Client::open(redis_url())?;
    let mut conn = match client.get_multiplexed_async_connection().await {
        Ok(c) => c,
        Err(e) if required() => return Err(format!("redis is required: {e}").into()),
        Err(e) => {
            eprintln!("\n!!! SKIPPING the Redis suite: {e} !!!\n");
            return Ok(());
        }
    };
    let url = redis_url();
    let dir = tempfile::tempdir()?;
    let pusher = Pusher::with_redis(&url, Duration::from_secs(60)).await?;
    let sqlite = Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), pusher).await?;
    lowered_on(sqlite, &mut conn)
        .await
        .map_err(|e| format!("sqlite: {e}"))?;
    if let Some((_, service)) = common::postgres().await? {
        let pusher = Pusher::with_redis(&url, Duration::from_secs(60)).await?;
        let pg = Store::connect_without_migrating(&service, pusher).await?;
        lowered_on(pg, &mut conn)
            .await
            .map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn no_key_is_minted_through_an_ended_session() -> TestResult {
    common::on_both(|store| async move {
        let (team, _, bob) = team(&store).await?;
        let session = store.create_session(&bob, 3600).await?;
        let through = Meta::system()
            .with_actor(ActorKind::User, &bob)
            .with_session(&session.id);
        store
            .create_api_key(&team, "live", Role::Member, None, None, &through)
            .await?;
        store.revoke_all_sessions(&bob, &Meta::system()).await?;
        let late = store
            .create_api_key(&team, "late", Role::Member, None, None, &through)
            .await;
        assert!(
            matches!(
                late,
                Err(StoreError::Conflict {
                    code: "session_ended",
                    ..
                })
            ),
            "{late:?}"
        );
        assert_eq!(store.api_keys(&team).await?.len(), 1);
        Ok(())
    })
    .await
}

/// A connection of the database's owner, working across workspaces.
async fn owner_tx(owner: &str) -> TestResult<sqlx::AnyConnection> {
    let mut conn = sqlx::AnyConnection::connect(owner).await?;
    sqlx::query("BEGIN").execute(&mut conn).await?;
    sqlx::query("SELECT set_config('wrnexus.system', 'on', true)")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

#[tokio::test]
async fn a_key_minted_during_sign_out_everywhere_does_not_survive() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let store = Store::connect_without_migrating(&service, Pusher::none()).await?;
    let (team, _, bob) = team(&store).await?;
    let as_bob = Meta::system().with_actor(ActorKind::User, &bob);
    let (first, _) = store
        .create_api_key(&team, "first", Role::Admin, None, None, &as_bob)
        .await?;
    let as_key = Meta::system().with_actor(ActorKind::ApiKey, &first.id);

    // "Sign out everywhere" in flight: bob locked, his key revoked, not
    // yet committed, while his key asks for another.
    let mut signing_out = owner_tx(&owner).await?;
    sqlx::query("UPDATE users SET version = version WHERE id = $1")
        .bind(&bob)
        .execute(&mut signing_out)
        .await?;
    sqlx::query("UPDATE api_keys SET revoked_at = 1 WHERE id = $1")
        .bind(&first.id)
        .execute(&mut signing_out)
        .await?;
    let minting = tokio::spawn({
        let (store, team) = (store.clone(), team.clone());
        async move {
            store
                .create_api_key(&team, "minted", Role::Member, None, None, &as_key)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("COMMIT").execute(&mut signing_out).await?;
    let minted = minting.await?;
    assert!(
        matches!(
            minted,
            Err(StoreError::Conflict {
                code: "api_key_revoked",
                ..
            })
        ),
        "{minted:?}"
    );
    let live = store
        .api_keys(&team)
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    assert_eq!(live, 0);
    Ok(())
}

#[tokio::test]
async fn an_admin_cannot_demote_a_member_promoted_to_owner_meanwhile() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let api = Api::start(config(&service, Some(&owner))).await?;
    let ann = api.sign_up("ann@example.com").await?;
    let bob = api.sign_up("bob@example.com").await?;
    let cat = api.sign_up("cat@example.com").await?;
    let acme = api.team(&ann, "Acme").await?;
    api.join(&acme, &ann.token, &bob, "admin").await?;
    api.join(&acme, &ann.token, &cat, "member").await?;

    // Ann's promotion of cat holds the workspace while bob's demotion of
    // cat, checked when cat was still a member, waits for it.
    let mut promoting = owner_tx(&owner).await?;
    sqlx::query("UPDATE workspaces SET version = version WHERE id = $1")
        .bind(&acme)
        .execute(&mut promoting)
        .await?;
    sqlx::query("UPDATE memberships SET role = 'owner' WHERE workspace_id = $1 AND user_id = $2")
        .bind(&acme)
        .bind(&cat.id)
        .execute(&mut promoting)
        .await?;
    let path = format!("/workspaces/{acme}/members/{}", cat.id);
    let demoting = tokio::spawn({
        let api = Api {
            base: api.base.clone(),
            http: api.http.clone(),
        };
        let bob = bob.token.clone();
        async move {
            api.call(
                Method::PATCH,
                &path,
                &bob,
                Some(json!({ "role": "viewer" })),
            )
            .await
            .map_err(|e| e.to_string())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("COMMIT").execute(&mut promoting).await?;
    let (s, b) = demoting.await??;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::FORBIDDEN, "owner_required"),
        "{b}"
    );
    assert!(b["decision_id"].is_string(), "{b}");
    let members = api.list(&acme, "members", &ann.token).await?;
    let cats = members
        .iter()
        .find(|m| m["user_id"] == cat.id.as_str())
        .ok_or("cat not listed")?;
    assert_eq!(cats["role"], "owner");
    Ok(())
}
