//! Faults and fleets over real processes: a change reaches two gateways
//! within a second; Redis killed and restarted mid-traffic; the control
//! plane down on a miss. No request is forwarded without a decision.

use reqwest::{Method, StatusCode};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::until;
use wrnexus_e2e::client::{self, http, json_body, sign_up};
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres};
use wrnexus_e2e::stack::Stack;

#[tokio::test]
async fn a_removal_reaches_two_gateways_within_a_second() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let mut stack = Stack::split(&database, &redis.url()).await?;
    let result = async {
        let (gw2, admin2) = stack.add_gateway(&redis.url()).await?;
        let gw1 = stack.gateway.clone();
        let c = http();
        let alice = sign_up(&c, &gw1, &client::email("alice")).await?;
        let mut bob = sign_up(&c, &gw1, &client::email("bob")).await?;
        let api = format!("{gw1}/.wrnexus/api/v1");
        client::join(&c, &gw1, &alice, &mut bob, &alice.workspace_id, "member").await?;
        // Both gateways know Bob as a member (their caches are warm).
        for gw in [&gw1, &gw2] {
            until(
                &c,
                &bob,
                &format!("{gw}/doc"),
                StatusCode::OK,
                Duration::from_secs(2),
            )
            .await?;
        }
        let r = alice
            .req(
                &c,
                Method::DELETE,
                &format!("{api}/workspaces/{}/members/{}", alice.workspace_id, bob.id),
            )
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        let (doc1, doc2) = (format!("{gw1}/doc"), format!("{gw2}/doc"));
        let (a, b) = tokio::join!(
            until(
                &c,
                &bob,
                &doc1,
                StatusCode::FORBIDDEN,
                Duration::from_secs(1)
            ),
            until(
                &c,
                &bob,
                &doc2,
                StatusCode::FORBIDDEN,
                Duration::from_secs(1)
            ),
        );
        eprintln!("removal seen after {:?} and {:?}", a?, b?);
        // The second gateway measured the lag of what it was told.
        let metrics = c
            .get(format!("{admin2}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let count = metrics
            .lines()
            .find(|l| l.starts_with("wrnexus_gateway_invalidation_lag_seconds_count"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(count >= 1.0, "no invalidation lag observed:\n{metrics}");
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

#[tokio::test]
async fn redis_and_control_plane_faults_fail_closed_and_recover() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(mut redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let mut stack = Stack::split_with(
        &database,
        &redis.url(),
        &[("WRNEXUS_GATEWAY__STALE_BOUND_SECS", "2")],
    )
    .await?;
    let result = async {
        let gw = stack.gateway.clone();
        let c = http();
        let alice = sign_up(&c, &gw, &client::email("alice")).await?;
        let doc = format!("{gw}/doc");
        until(&c, &alice, &doc, StatusCode::OK, Duration::from_secs(2)).await?;

        // Redis dies: local entries keep serving up to the staleness bound…
        redis.kill();
        let r = alice.req(&c, Method::GET, &doc).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "within the bound");
        // …then every request fails closed with 503, never forwarded.
        until(
            &c,
            &alice,
            &doc,
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(10),
        )
        .await?;
        let (status, body) = json_body(alice.req(&c, Method::GET, &doc).send().await?).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("backend_unavailable"))
        );
        assert!(
            body.get("headers").is_none(),
            "the upstream answered: {body}"
        );
        // Counted as the gateway's own fail-closed refusals, by cause.
        let redis_gone = fail_closed(&c, &stack.admin, "redis").await?
            + fail_closed(&c, &stack.admin, "stale_bound").await?;
        assert!(
            redis_gone >= 2.0,
            "{redis_gone} fail-closed refusals counted"
        );
        assert_eq!(fail_closed(&c, &stack.admin, "control_plane").await?, 0.0);

        // Redis comes back (empty): the gateway recovers without a restart.
        redis.restart().await?;
        until(&c, &alice, &doc, StatusCode::OK, Duration::from_secs(15)).await?;

        // The control plane down on a miss: 503, then recovery when it is back.
        let bob = sign_up(&c, &gw, &client::email("bob")).await?;
        let mut conn = redis::Client::open(redis.url())?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
        stack
            .proc("control-plane")
            .ok_or("no control plane")?
            .kill();
        let (status, body) = json_body(bob.req(&c, Method::GET, &doc).send().await?).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("backend_unavailable")),
            "{body}"
        );
        assert!(fail_closed(&c, &stack.admin, "control_plane").await? >= 1.0);
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

/// A Redis that stops answering without closing anything (a partition, not
/// a crash) is noticed by the subscription's heartbeat: the gateway serves
/// local entries only up to the staleness bound, not for their whole TTL,
/// then fails closed; it recovers on its own when Redis answers again.
#[tokio::test]
async fn a_silent_redis_is_noticed_and_fails_closed() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let stack = Stack::split_with(
        &database,
        &redis.url(),
        &[("WRNEXUS_GATEWAY__STALE_BOUND_SECS", "2")],
    )
    .await?;
    let result = async {
        let gw = stack.gateway.clone();
        let c = http();
        let alice = sign_up(&c, &gw, &client::email("alice")).await?;
        let doc = format!("{gw}/doc");
        until(&c, &alice, &doc, StatusCode::OK, Duration::from_secs(2)).await?;
        redis.pause()?;
        // The cache TTL is 60 s; the staleness bound 2 s, the heartbeat ≈ 1.5 s.
        let closed = until(
            &c,
            &alice,
            &doc,
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        )
        .await;
        redis.resume()?;
        eprintln!("a silent redis: requests refused after {:?}", closed?);
        assert!(fail_closed(&c, &stack.admin, "stale_bound").await? >= 1.0);
        until(&c, &alice, &doc, StatusCode::OK, Duration::from_secs(10)).await?;
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        redis.resume().ok();
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

/// The gateway's `wrnexus_gateway_fail_closed_total` for `cause`.
async fn fail_closed(c: &reqwest::Client, admin: &str, cause: &str) -> TestResult<f64> {
    let metrics = c
        .get(format!("{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let series = format!("wrnexus_gateway_fail_closed_total{{cause=\"{cause}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no `{series}` in:\n{metrics}").into())
}
