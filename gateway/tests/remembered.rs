//! A keep-alive connection's memory of its last session request is reused
//! only for the very same token and workspace, and is void as soon as
//! anything it rests on changes: any local cache entry, the freshness
//! bound, the token's expiry, the signing keys.

use std::sync::Arc;
use std::time::{Duration, Instant};
use wrnexus_gateway::cache::LocalCache;
use wrnexus_gateway::keys::KeyRing;
use wrnexus_gateway::metrics::Metrics;
use wrnexus_gateway::remembered::Remembered;
use wrnexus_gateway::resolve::Resolver;
use wrnexus_policies::assertion::AssertionKey;
use wrnexus_policies::{Entry, EntryKey, Role, SessionClaims, VersionedEntry, WorkspaceStatus};

type TestResult = Result<(), Error>;

const EXP: i64 = 2_000_000_000;

fn claims() -> SessionClaims {
    SessionClaims {
        iss: "wrnexus".into(),
        aud: "wrnexus-gateway".into(),
        sub: "u1".into(),
        wid: "w1".into(),
        sid: "s1".into(),
        iat: 0,
        exp: EXP,
    }
}

/// Alice's session, user, membership (member) and workspace, fetched at `at`.
fn fill(cache: &LocalCache, at: Instant) {
    let entries = [
        (
            EntryKey::Session("s1".into()),
            Entry::Session {
                user_id: "u1".into(),
                revoked: false,
            },
        ),
        (EntryKey::User("u1".into()), Entry::User { disabled: false }),
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
    let resolver = Resolver::new(
        cache.clone(),
        None,
        reqwest::Client::new(),
        // Never asked: everything is local.
        "http://127.0.0.1:9",
        Duration::from_secs(60),
        Duration::from_secs(30),
        Metrics::new()?,
    );
    let keys = KeyRing::default();
    let (signing, _) = AssertionKey::generate()?;
    keys.replace(&signing.jwks())?;
    let t0 = Instant::now();
    fill(&cache, t0);
    let claims = Arc::new(claims());
    let (claims, resolver, keys) = (&claims, &resolver, &keys);
    let memory = remember(resolver, claims, keys, t0).await?;
    let now = t0 + Duration::from_secs(1);
    let reused = memory.reuse("tok", None, keys, resolver, now, EXP - 1);
    assert_eq!(
        reused.map(|m| (m.claims().sub.as_str(), m.resolved().role)),
        Some(("u1", Some(Role::Member)))
    );
    // What an allow forwards is kept too: Alice, in her workspace, a member.
    let identity = reused.and_then(|m| m.identity());
    assert_eq!(
        identity.map(|i| (
            i.principal_id(),
            i.workspace_id.as_str(),
            i.role,
            i.session_id.as_deref(),
            i.principal_value().as_bytes(),
        )),
        Some(("u1", "w1", Role::Member, Some("s1"), &b"u1"[..]))
    );
    assert!(
        memory
            .reuse("tok", Some("w1"), keys, resolver, now, 0)
            .is_some()
    );
    // Another token, another workspace, an expired token, a stale entry.
    assert!(memory.reuse("tok2", None, keys, resolver, now, 0).is_none());
    assert!(memory.reuse("to", None, keys, resolver, now, 0).is_none());
    assert!(
        memory
            .reuse("tok", Some("w2"), keys, resolver, now, 0)
            .is_none()
    );
    assert!(
        memory
            .reuse("tok", None, keys, resolver, now, EXP)
            .is_none()
    );
    let late = t0 + Duration::from_secs(61);
    assert!(memory.reuse("tok", None, keys, resolver, late, 0).is_none());

    // Any change to the local cache voids it, even of someone else's entry.
    cache.invalidate(&EntryKey::User("u2".into()).cache_key(), 3);
    assert!(memory.reuse("tok", None, keys, resolver, now, 0).is_none());
    // Alice removed: the invalidation voids it and the next resolution says so.
    let memory = remember(resolver, claims, keys, now).await?;
    assert!(memory.reuse("tok", None, keys, resolver, now, 0).is_some());
    cache.invalidate(&EntryKey::membership("w1", "u1").cache_key(), 2);
    assert!(memory.reuse("tok", None, keys, resolver, now, 0).is_none());
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
    assert!(memory.reuse("tok", None, keys, resolver, now, 0).is_some());
    let (other, _) = AssertionKey::generate()?;
    keys.replace(&other.jwks())?;
    assert!(memory.reuse("tok", None, keys, resolver, now, 0).is_none());
    Ok(())
}
