//! Many requests missing the same decision data cost one control-plane
//! lookup, and a control plane that cannot answer fails them all closed.

mod common;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wrnexus_gateway::data::cache::LocalCache;
use wrnexus_gateway::data::resolve::{FailCause, ResolveError, Resolver};
use wrnexus_gateway::ops::metrics::Metrics;
use wrnexus_policies::{
    DecisionData, Entry, EntryKey, Role, SessionClaims, VersionedEntry, WorkspaceStatus,
};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn claims() -> SessionClaims {
    common::claims(i64::MAX)
}

fn answer(member: bool) -> DecisionData {
    let mut data = DecisionData::default();
    let mut put = |key: EntryKey, entry: Entry| {
        data.entries
            .insert(key.cache_key(), VersionedEntry { version: 1, entry });
    };
    put(
        EntryKey::session("u1", "s1"),
        Entry::Session {
            user_id: "u1".into(),
            revoked: false,
        },
    );
    put(
        EntryKey::User("u1".into()),
        Entry::User {
            disabled: false,
            email_verified: true,
        },
    );
    put(
        EntryKey::membership("w1", "u1"),
        Entry::Membership {
            role: member.then_some(Role::Member),
            projects: None,
        },
    );
    if !member {
        // As the control plane does: a non-member is not told about the workspace.
        return data;
    }
    put(
        EntryKey::Workspace("w1".into()),
        Entry::Workspace {
            status: WorkspaceStatus::Active,
            plan: "free".into(),
            sign_in_methods: wrnexus_policies::SignInMethods::ALL,
            max_session_age_secs: None,
        },
    );
    data
}

/// A control plane that counts decision-data calls and answers slowly.
async fn control_plane(calls: Arc<AtomicUsize>, member: bool) -> Result<String, std::io::Error> {
    let app = Router::new()
        .route(
            "/v1/internal/decision-data",
            get(move |State(calls): State<Arc<AtomicUsize>>| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                axum::Json(answer(member))
            }),
        )
        .with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn resolver(url: &str) -> Result<Resolver, prometheus::Error> {
    Ok(Resolver::new(
        Arc::new(LocalCache::new(1000)),
        None,
        reqwest::Client::new(),
        url,
        Duration::from_secs(60),
        Duration::from_secs(30),
        Metrics::new()?,
    ))
}

#[tokio::test]
async fn concurrent_misses_share_one_lookup() -> TestResult {
    let calls = Arc::new(AtomicUsize::new(0));
    let url = control_plane(calls.clone(), true).await?;
    let resolver = Arc::new(resolver(&url)?);
    let claims = claims();
    let results =
        futures_util::future::join_all((0..50).map(|_| resolver.resolve(&claims, "w1", "token")))
            .await;
    for r in results {
        assert_eq!(r?.role, Some(Role::Member));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one lookup for fifty misses"
    );
    // Now cached: no further call.
    resolver.resolve(&claims, "w1", "token").await?;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_control_plane_fails_closed() -> TestResult {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let resolver = resolver(&format!("http://127.0.0.1:{port}"))?;
    let result = resolver.resolve(&claims(), "w1", "token").await;
    assert!(
        matches!(&result, Err(ResolveError::Unavailable(why)) if why.cause == FailCause::ControlPlane),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_non_members_refusal_is_cached_too() -> TestResult {
    let calls = Arc::new(AtomicUsize::new(0));
    let url = control_plane(calls.clone(), false).await?;
    let resolver = resolver(&url)?;
    for _ in 0..5 {
        let resolved = resolver.resolve(&claims(), "w1", "token").await?;
        assert_eq!(resolved.role, None);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "denials must not ask every time"
    );
    Ok(())
}
