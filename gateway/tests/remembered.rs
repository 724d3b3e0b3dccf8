//! A keep-alive connection's memory of its last session request is reused
//! only for the very same token and workspace, and is void as soon as
//! anything it rests on changes: any local cache entry, the freshness
//! bound, the token's expiry, the signing keys.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};
use wrnexus_gateway::authn::api_key;
use wrnexus_gateway::authn::keys::KeyRing;
use wrnexus_gateway::data::cache::LocalCache;
use wrnexus_gateway::data::remembered::{Remembered, RememberedKey};
use wrnexus_gateway::data::resolve::{Resolved, Resolver};
use wrnexus_gateway::ops::metrics::Metrics;
use wrnexus_gateway::upstream::identity::Identity;
use wrnexus_policies::assertion::AssertionKey;
use wrnexus_policies::{Entry, EntryKey, Role, SessionClaims, VersionedEntry, WorkspaceStatus};

type TestResult = Result<(), Error>;

const EXP: i64 = 2_000_000_000;

fn claims() -> SessionClaims {
    common::claims(EXP)
}

/// Alice's session, user, membership (member) and workspace, fetched at `at`.
fn fill(cache: &LocalCache, at: Instant) {
    let entries = [
        (
            EntryKey::session("u1", "s1"),
            Entry::Session {
                user_id: "u1".into(),
                revoked: false,
            },
        ),
        (
            EntryKey::User("u1".into()),
            Entry::User {
                disabled: false,
                email_verified: true,
            },
        ),
        (
            EntryKey::membership("w1", "u1"),
            Entry::Membership {
                role: Some(Role::Member),
                projects: None,
            },
        ),
        (
            EntryKey::Workspace("w1".into()),
            Entry::Workspace {
                status: WorkspaceStatus::Active,
                plan: "free".into(),
                sign_in_methods: wrnexus_policies::SignInMethods::ALL,
                max_session_age_secs: None,
            },
        ),
    ];
    for (key, entry) in entries {
        cache.insert(
            &key.cache_key(),
            Arc::new(VersionedEntry { version: 1, entry }),
            at,
        );
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// An identity as the assertions compare it.
fn described(i: &Identity) -> (&str, &str, Role, Option<&str>) {
    (
        i.principal_id(),
        i.workspace_id.as_str(),
        i.role,
        i.session_id.as_deref(),
    )
}

/// A resolver over `cache` alone (its control plane is never asked).
fn local_resolver(cache: &Arc<LocalCache>) -> Result<Resolver, Error> {
    Ok(Resolver::new(
        cache.clone(),
        None,
        reqwest::Client::new(),
        "http://127.0.0.1:9",
        Duration::from_secs(60),
        Duration::from_secs(30),
        Metrics::new()?,
    ))
}

/// What a connection remembers after resolving Alice's token "tok" at `now`.
async fn remember(
    resolver: &Resolver,
    claims: &Arc<SessionClaims>,
    keys: &KeyRing,
    now: Instant,
) -> Result<Remembered, Error> {
    let (resolved, stamp) = resolver.resolve_at(claims, "w1", "tok", now).await?;
    let stamp = stamp.ok_or("all local, yet no stamp")?;
    Ok(Remembered::new(
        "tok",
        claims.clone(),
        keys.generation(),
        resolved,
        stamp,
    ))
}

#[tokio::test]
async fn a_connection_reuses_its_last_answer_only_while_nothing_changed() -> TestResult {
    let cache = Arc::new(LocalCache::new(1000));
    let resolver = local_resolver(&cache)?;
    let keys = KeyRing::default();
    let (signing, _) = AssertionKey::generate()?;
    keys.replace(&signing.jwks())?;
    let t0 = Instant::now();
    fill(&cache, t0);
    let claims = Arc::new(claims());
    let (claims, resolver, keys) = (&claims, &resolver, &keys);
    let memory = remember(resolver, claims, keys, t0).await?;
    let now = t0 + Duration::from_secs(1);
    let reused = memory.reuse(b"tok", None, keys, resolver, now, EXP - 1);
    assert_eq!(
        reused.map(|m| (m.claims().sub.as_str(), m.resolved().role)),
        Some(("u1", Some(Role::Member)))
    );
    // What an allow forwards is kept too: Alice, in her workspace, a member.
    let identity = reused.and_then(|m| m.identity());
    assert_eq!(
        identity.map(|i| (described(i), i.principal_value().as_bytes())),
        Some((("u1", "w1", Role::Member, Some("s1")), &b"u1"[..]))
    );
    assert!(
        memory
            .reuse(b"tok", Some("w1"), keys, resolver, now, 0)
            .is_some()
    );
    // Another token, another workspace, an expired token, a stale entry.
    assert!(
        memory
            .reuse(b"tok2", None, keys, resolver, now, 0)
            .is_none()
    );
    assert!(memory.reuse(b"to", None, keys, resolver, now, 0).is_none());
    assert!(
        memory
            .reuse(b"tok", Some("w2"), keys, resolver, now, 0)
            .is_none()
    );
    assert!(
        memory
            .reuse(b"tok", None, keys, resolver, now, EXP)
            .is_none()
    );
    let late = t0 + Duration::from_secs(61);
    assert!(
        memory
            .reuse(b"tok", None, keys, resolver, late, 0)
            .is_none()
    );

    // Any change to the local cache voids it, even of someone else's entry.
    cache.invalidate(&EntryKey::User("u2".into()).cache_key(), 3);
    assert!(memory.reuse(b"tok", None, keys, resolver, now, 0).is_none());
    // Alice removed: the invalidation voids it and the next resolution says so.
    let memory = remember(resolver, claims, keys, now).await?;
    assert!(memory.reuse(b"tok", None, keys, resolver, now, 0).is_some());
    cache.invalidate(&EntryKey::membership("w1", "u1").cache_key(), 2);
    assert!(memory.reuse(b"tok", None, keys, resolver, now, 0).is_none());
    cache.insert(
        &EntryKey::membership("w1", "u1").cache_key(),
        Arc::new(VersionedEntry {
            version: 2,
            entry: Entry::Membership {
                role: None,
                projects: None,
            },
        }),
        now,
    );
    let (resolved, _) = resolver.resolve_at(claims, "w1", "tok", now).await?;
    assert_eq!(resolved.role, None, "the removal is seen");

    // New signing keys void it too.
    fill(&cache, now);
    let memory = remember(resolver, claims, keys, now).await?;
    assert!(memory.reuse(b"tok", None, keys, resolver, now, 0).is_some());
    let (other, _) = AssertionKey::generate()?;
    keys.replace(&other.jwks())?;
    assert!(memory.reuse(b"tok", None, keys, resolver, now, 0).is_none());
    Ok(())
}

const KEY_ID: &str = "0123456789abcdef";
const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The key `KEY_ID` of workspace w1 (member ceiling, expiring at `EXP`),
/// `revoked` or not, and w1, fetched at `at`.
fn fill_key(cache: &LocalCache, version: i64, revoked: bool, at: Instant) {
    let key = Entry::ApiKey {
        workspace_id: "w1".into(),
        role_ceiling: Role::Member,
        secret_hash: wrnexus_policies::api_key::secret_hash(SECRET),
        expires_at: Some(EXP),
        revoked,
        projects: None,
    };
    let workspace = Entry::Workspace {
        status: WorkspaceStatus::Active,
        plan: "free".into(),
        sign_in_methods: wrnexus_policies::SignInMethods::ALL,
        max_session_age_secs: None,
    };
    for (name, entry) in [
        (EntryKey::ApiKey(KEY_ID.into()), key),
        (EntryKey::Workspace("w1".into()), workspace),
    ] {
        let entry = Arc::new(VersionedEntry { version, entry });
        cache.insert(&name.cache_key(), entry, at);
    }
}

/// What a connection remembers after checking the key at `now`.
async fn remember_key(
    resolver: &Resolver,
    token: &str,
    now: Instant,
) -> Result<RememberedKey, Error> {
    let (entry, workspace, stamp) = resolver.resolve_key_at(KEY_ID, token, now).await?;
    let presented = api_key::PresentedKey {
        id: KEY_ID,
        secret: SECRET,
        token,
    };
    let grant = api_key::check(&entry, &presented, 0).map_err(|e| e.to_string())?;
    let (status, plan) = workspace.ok_or("no workspace")?;
    let resolved = Resolved {
        role: Some(grant.role_ceiling),
        status,
        plan,
        projects: None,
        email_verified: true,
        sign_in_methods: wrnexus_policies::SignInMethods::ALL,
        max_session_age_secs: None,
    };
    let stamp = stamp.ok_or("all local, yet no stamp")?;
    Ok(RememberedKey::new(
        token, KEY_ID, grant, resolved, stamp, 100,
    ))
}

#[tokio::test]
async fn a_connection_reuses_its_last_api_key_only_while_nothing_changed() -> TestResult {
    let cache = Arc::new(LocalCache::new(1000));
    let resolver = local_resolver(&cache)?;
    let t0 = Instant::now();
    fill_key(&cache, 1, false, t0);
    let token = format!("wrn_{KEY_ID}_{SECRET}");
    let memory = remember_key(&resolver, &token, t0).await?;
    let now = t0 + Duration::from_secs(1);
    let reused = memory.reuse(&token, &resolver, now, 100);
    assert_eq!(
        reused.map(|m| (m.grant().workspace_id.as_str(), m.resolved().role)),
        Some(("w1", Some(Role::Member)))
    );
    let identity = reused.and_then(|m| m.identity());
    assert_eq!(
        identity.map(|i| described(i)),
        Some((KEY_ID, "w1", Role::Member, None))
    );
    // Its use is reported once per second per connection.
    assert!(!memory.first_use_in(100));
    assert!(memory.first_use_in(101));
    assert!(!memory.first_use_in(101));

    // Another token (a wrong secret too), the key's expiry, stale data.
    let wrong = format!("wrn_{KEY_ID}_{}", "f".repeat(64));
    assert!(memory.reuse(&wrong, &resolver, now, 100).is_none());
    assert!(memory.reuse(&token, &resolver, now, EXP).is_none());
    let late = t0 + Duration::from_secs(61);
    assert!(memory.reuse(&token, &resolver, late, 100).is_none());

    // Revoked: the pushed change voids it, and the next check refuses.
    fill_key(&cache, 2, true, now);
    assert!(memory.reuse(&token, &resolver, now, 100).is_none());
    let (entry, _, _) = resolver.resolve_key_at(KEY_ID, &token, now).await?;
    let presented = api_key::PresentedKey {
        id: KEY_ID,
        secret: SECRET,
        token: &token,
    };
    assert_eq!(
        api_key::check(&entry, &presented, 100),
        Err(api_key::KeyError::Revoked)
    );
    // Any other invalidation voids it as well.
    fill_key(&cache, 3, false, now);
    let memory = remember_key(&resolver, &token, now).await?;
    assert!(memory.reuse(&token, &resolver, now, 100).is_some());
    cache.invalidate(&EntryKey::User("u2".into()).cache_key(), 3);
    assert!(memory.reuse(&token, &resolver, now, 100).is_none());
    Ok(())
}
