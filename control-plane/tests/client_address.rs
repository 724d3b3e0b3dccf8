//! The client's address comes only from gateways the control plane trusts,
//! on SQLite and on Postgres: audit rows and the sign-in and invitation
//! limits are keyed by the real client behind any number of proxies, an
//! untrusted peer's `X-Forwarded-For` is ignored, and with Redis every
//! control-plane replica counts the same attempts.

mod common;

use common::TestResult;
use common::http::{Api, config, on_both_with};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::api::forwarded::TrustedProxies;
use wrnexus_control_plane::store::sqlite_url;

/// Loopback (the test's own gateway) and a private proxy tier.
fn behind_proxies(c: &mut ControlPlaneConfig) {
    // Both entries parse (the unit tests say so); `none` would fail every test here.
    c.trusted_proxies = TrustedProxies::parse(&["127.0.0.0/8", "10.0.0.0/8"])
        .unwrap_or_else(|_| TrustedProxies::none());
}

/// A sign-in attempt with a wrong password, as `forwarded_for` forwards it.
async fn attempt(api: &Api, email: &str, forwarded_for: &str) -> TestResult<(StatusCode, Value)> {
    let res = api
        .http
        .post(format!("{}/.wrnexus/signin", api.base))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "email": email, "password": "not the password" }))
        .send()
        .await?;
    let status = res.status();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// The addresses of `workspace`'s audit rows for `action`.
async fn audited_ips(
    api: &Api,
    token: &str,
    workspace: &str,
    action: &str,
) -> TestResult<Vec<Value>> {
    let (s, log) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/audit?action={action}"),
            token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{log}");
    Ok(log["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["ip"].clone())
        .collect())
}

/// An address of the documentation range no other test run uses.
fn fresh_address() -> String {
    let id = uuid::Uuid::new_v4().as_u128();
    let word = |shift: u32| (id >> shift) & 0xffff;
    format!(
        "2001:db8:{:x}:{:x}:{:x}:{:x}::1",
        word(0),
        word(16),
        word(32),
        word(48)
    )
}

fn fresh_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn audit_rows_name_the_client_behind_the_proxies() -> TestResult {
    on_both_with(behind_proxies, |api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        // The client, its own claim to the left, two trusted proxies to the right.
        let (s, _) = attempt(
            &api,
            "ann@example.com",
            "198.51.100.1, 203.0.113.5, 10.1.2.3, 10.9.8.7",
        )
        .await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let ips = audited_ips(&api, &ann.token, &ann.personal, "signin").await?;
        assert_eq!(ips, [json!("203.0.113.5")]);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_address() -> TestResult {
    on_both_with(
        |c| c.trusted_proxies = TrustedProxies::none(),
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let (s, _) = attempt(&api, "ann@example.com", "203.0.113.7").await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            let ips = audited_ips(&api, &ann.token, &ann.personal, "signin").await?;
            assert_eq!(ips, [json!("127.0.0.1")]);

            // A new address per attempt does not escape the per-address
            // limit (3 per email, so 15 per address, a minute; one is spent).
            for i in 0..14 {
                let (s, b) = attempt(&api, &format!("u{i}@example.com"), &fresh_address()).await?;
                assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {b}");
            }
            let (s, b) = attempt(&api, "u15@example.com", &fresh_address()).await?;
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
            assert_eq!(code(&b), "rate_limited");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn one_client_behind_a_proxy_does_not_limit_another() -> TestResult {
    on_both_with(behind_proxies, |api| async move {
        let (noisy, quiet) = ("203.0.113.10, 10.0.0.1", "203.0.113.11, 10.0.0.1");
        for i in 0..15 {
            let (s, b) = attempt(&api, &format!("n{i}@example.com"), noisy).await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {b}");
        }
        let (s, b) = attempt(&api, "n15@example.com", noisy).await?;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
        // Same proxy, another client: not limited.
        let (s, b) = attempt(&api, "q0@example.com", quiet).await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn invitation_acceptance_is_limited_per_client_address() -> TestResult {
    on_both_with(
        |c| {
            behind_proxies(c);
            c.rate_limits.accept_per_minute = 1;
        },
        |api| async move {
            // One acceptance per user a minute, five per address.
            let accept = |token: String, from: &'static str| {
                let api = &api;
                async move {
                    let res = api
                        .http
                        .post(format!("{}/v1/invitations/no-such-token/accept", api.base))
                        .bearer_auth(token)
                        .header("x-forwarded-for", from)
                        .send()
                        .await?;
                    TestResult::Ok(res.status())
                }
            };
            for i in 0..5 {
                let user = api.sign_up(&format!("g{i}@example.com")).await?;
                let s = accept(user.token, "203.0.113.20, 10.0.0.1").await?;
                assert_ne!(s, StatusCode::TOO_MANY_REQUESTS, "user {i}");
            }
            let sixth = api.sign_up("g5@example.com").await?;
            let s = accept(sixth.token.clone(), "203.0.113.20, 10.0.0.1").await?;
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
            let elsewhere = api.sign_up("h0@example.com").await?;
            let s = accept(elsewhere.token, "203.0.113.21, 10.0.0.1").await?;
            assert_ne!(s, StatusCode::TOO_MANY_REQUESTS);
            Ok(())
        },
    )
    .await
}

fn redis_url() -> String {
    std::env::var("WRNEXUS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether Redis answers; `false` (after a loud message) when it does not,
/// unless `WRNEXUS_REQUIRE_SERVICES=1`, where that is a failure.
async fn redis_up() -> TestResult<bool> {
    let reached = async {
        let client = redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match reached.await {
        Ok(_) => Ok(true),
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            Err(format!("redis is required but unavailable: {e}").into())
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING the Redis rate-limit suite: {e} !!!\n");
            Ok(false)
        }
    }
}

/// Two control planes over one database (and Redis, when `redis`), on
/// SQLite and on Postgres.
async fn two_replicas<F, Fut>(redis: bool, suite: F) -> TestResult
where
    F: Fn(Api, Api) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    let configure = |mut c: ControlPlaneConfig| {
        behind_proxies(&mut c);
        if redis {
            c.redis_url = Some(redis_url());
        }
        c
    };
    let dir = tempfile::tempdir()?;
    let sqlite = sqlite_url(&dir.path().join("t.sqlite"));
    let a = Api::start(configure(config(&sqlite, None))).await?;
    let b = Api::start(configure(config(&sqlite, None))).await?;
    suite(a, b).await.map_err(|e| format!("sqlite: {e}"))?;
    if let Some((owner, service)) = common::postgres().await? {
        let a = Api::start(configure(config(&service, Some(&owner)))).await?;
        let b = Api::start(configure(config(&service, Some(&owner)))).await?;
        suite(a, b).await.map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn replicas_over_one_redis_share_the_sign_in_limits() -> TestResult {
    if !redis_up().await? {
        return Ok(());
    }
    two_replicas(true, |a, b| async move {
        // Per email: 3 a minute, whichever replica is asked.
        let email = fresh_email();
        let client = fresh_address();
        for api in [&a, &b, &a] {
            let (s, body) = attempt(api, &email, &client).await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        }
        for api in [&b, &a] {
            let (s, body) = attempt(api, &email, &client).await?;
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
            assert_eq!(code(&body), "rate_limited");
        }
        // Per address: 15 a minute across replicas; another client is free.
        let noisy = fresh_address();
        for i in 0..15 {
            let api = if i % 2 == 0 { &a } else { &b };
            let (s, body) = attempt(api, &fresh_email(), &noisy).await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
        }
        let (s, body) = attempt(&b, &fresh_email(), &noisy).await?;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let (s, body) = attempt(&a, &fresh_email(), &fresh_address()).await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn without_redis_each_replica_counts_alone() -> TestResult {
    two_replicas(false, |a, b| async move {
        let email = fresh_email();
        let client = fresh_address();
        for api in [&a, &a, &a] {
            let (s, body) = attempt(api, &email, &client).await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        }
        let (s, body) = attempt(&a, &email, &client).await?;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let (s, body) = attempt(&b, &email, &client).await?;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        Ok(())
    })
    .await
}
