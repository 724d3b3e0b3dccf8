//! Keys fetched from a JWKS URL (a local server standing in for the control
//! plane): fetched once and cached, refetched once for a rotated key, never
//! hammered by made-up key ids, 503 while unreachable and back after.

mod common;

use axum::http::StatusCode;
use common::{JwksServer, TestResult, assert_refused, call, claims, layered_app, new_key};
use std::sync::Arc;
use std::time::Duration;
use wrnexus_policies::model::Role;
use wrnexus_sdk::{DEFAULT_AUDIENCE, Verifier};

/// Between two fetches in these tests; long enough for a burst of requests
/// to fit inside, short enough to wait out.
const INTERVAL: Duration = Duration::from_millis(1500);

fn remote(url: &str) -> TestResult<Verifier> {
    Ok(Verifier::builder()
        .refetch_interval(INTERVAL)
        .jwks_url(url)?)
}

#[tokio::test]
async fn keys_are_fetched_on_first_use_and_cached() -> TestResult {
    let key = new_key()?;
    let (server, url) = JwksServer::start(&[&key]).await?;
    let verifier = remote(&url)?;
    let app = layered_app(verifier.clone(), Arc::default());
    assert_eq!(server.hits(), 0, "nothing is fetched before it is needed");
    for n in 0..20 {
        let token = key.sign(&claims(&format!("user-{n}"), "ws", Role::Member))?;
        let (status, _, body) = call(&app, "/whoami", Some(&token), &[]).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user_id"], format!("user-{n}"));
    }
    assert_eq!(server.hits(), 1, "twenty requests, one fetch");
    assert_eq!(verifier.key_fetches().await, 1);
    Ok(())
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_made_up_key_ids_are_not() -> TestResult {
    let (old, new, stranger) = (new_key()?, new_key()?, new_key()?);
    let (server, url) = JwksServer::start(&[&old]).await?;
    let app = layered_app(remote(&url)?, Arc::default());
    let token = old.sign(&claims("user-a", "ws", Role::Owner))?;
    assert_eq!(
        call(&app, "/whoami", Some(&token), &[]).await?.0,
        StatusCode::OK
    );
    assert_eq!(server.hits(), 1);

    // The control plane rotates; a token with the new kid arrives after
    // the interval and triggers exactly one refetch.
    server.publish(&[&old, &new])?;
    tokio::time::sleep(INTERVAL).await;
    let token = new.sign(&claims("user-b", "ws", Role::Admin))?;
    let (status, _, body) = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_eq!(
        (status, &body["role"]),
        (StatusCode::OK, &"admin".into()),
        "{body}"
    );
    assert_eq!(server.hits(), 2, "one refetch for the new kid");
    let token = new.sign(&claims("user-c", "ws", Role::Viewer))?;
    assert_eq!(
        call(&app, "/whoami", Some(&token), &[]).await?.0,
        StatusCode::OK
    );
    assert_eq!(server.hits(), 2, "the new key is cached");

    // A flood of unknown kids right after: refused, and no more fetches.
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..50 {
        let app = app.clone();
        let token = stranger.sign(&claims(&format!("x-{n}"), "ws", Role::Owner))?;
        flood.spawn(async move { call(&app, "/whoami", Some(&token), &[]).await });
    }
    while let Some(answer) = flood.join_next().await {
        assert_refused(&answer??, StatusCode::UNAUTHORIZED, "unknown_assertion_key")?;
    }
    assert_eq!(
        server.hits(),
        2,
        "unknown kids did not reach the control plane"
    );

    // Once the interval has passed, an unknown kid may ask once more.
    tokio::time::sleep(INTERVAL).await;
    let token = stranger.sign(&claims("x", "ws", Role::Owner))?;
    let answer = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "unknown_assertion_key")?;
    assert_eq!(server.hits(), 3);
    Ok(())
}

#[tokio::test]
async fn unreachable_keys_answer_503_without_hammering_and_recover() -> TestResult {
    let key = new_key()?;
    let (server, url) = JwksServer::start(&[&key]).await?;
    server.fail(true);
    // The default 30 s interval: after a failure, retries come sooner.
    let app = layered_app(Verifier::remote(&url, DEFAULT_AUDIENCE)?, Arc::default());
    let token = key.sign(&claims("user-a", "ws", Role::Member))?;
    for _ in 0..5 {
        let answer = call(&app, "/whoami", Some(&token), &[]).await?;
        assert_refused(
            &answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "assertion_keys_unavailable",
        )?;
        assert!(
            !answer.2["detail"]
                .as_str()
                .unwrap_or("")
                .contains("127.0.0.1"),
            "the cause is logged, not shown: {}",
            answer.2
        );
    }
    assert_eq!(
        server.hits(),
        1,
        "a failing control plane is not retried at once"
    );

    server.fail(false);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.hits(), 2);
    Ok(())
}

#[tokio::test]
async fn old_keys_are_refreshed_and_kept_while_the_control_plane_is_down() -> TestResult {
    let (key, other) = (new_key()?, new_key()?);
    let (server, url) = JwksServer::start(&[&key]).await?;
    let verifier = Verifier::builder()
        .refetch_interval(Duration::ZERO)
        .key_max_age(Duration::from_millis(300))
        .jwks_url(&url)?;
    let app = layered_app(verifier, Arc::default());
    let token = key.sign(&claims("user-a", "ws", Role::Member))?;
    assert_eq!(
        call(&app, "/whoami", Some(&token), &[]).await?.0,
        StatusCode::OK
    );
    assert_eq!(server.hits(), 1);

    // Old keys: refetched; a failure keeps the ones we have.
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.fail(true);
    assert_eq!(
        call(&app, "/whoami", Some(&token), &[]).await?.0,
        StatusCode::OK
    );
    assert_eq!(server.hits(), 2);

    // A key withdrawn from the set stops verifying once refetched.
    server.fail(false);
    server.publish(&[&other])?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "unknown_assertion_key")?;
    assert_eq!(server.hits(), 3);
    Ok(())
}

#[tokio::test]
async fn prefetch_reports_an_unreachable_key_set() -> TestResult {
    let key = new_key()?;
    let (server, url) = JwksServer::start(&[&key]).await?;
    let verifier = remote(&url)?;
    verifier.prefetch().await?;
    assert_eq!(server.hits(), 1);
    server.fail(true);
    assert!(verifier.prefetch().await.is_err());
    Ok(())
}
