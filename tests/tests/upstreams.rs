//! Upstreams grown up, through the real gateway: `https://` apps verified
//! against a configured CA (and refused, 502, when they do not verify),
//! mutual TLS, several addresses on one route balanced round robin or by
//! least connections, health checks taking a dead address out and putting
//! it back, and 503 `upstream_unavailable` when none is left. Control plane
//! on Postgres and Redis; the apps are in-process servers of this test.

use axum::Router;
use futures_util::FutureExt;
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::App;
use wrnexus_e2e::certs::{ClientCerts, ServerCerts};
use wrnexus_e2e::client::{self, User, http, json_body, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;
use wrnexus_e2e::upstreams::{Upstream, tls_config};

/// Counted at once, then held for a while before it answers.
async fn slow(axum::extract::State(app): axum::extract::State<App>) -> axum::Json<Value> {
    app.hit();
    tokio::time::sleep(Duration::from_secs(3)).await;
    axum::Json(serde_json::json!({ "app": app.name }))
}

/// Every app of the suite, and the files the gateway reads.
struct Apps {
    secure: Upstream,
    untrusted: Upstream,
    mtls: Upstream,
    a: Upstream,
    b: Upstream,
    c: Upstream,
    d: Upstream,
    _files: tempfile::TempDir,
    config: String,
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

async fn start_apps() -> TestResult<Apps> {
    let files = tempfile::tempdir()?;
    // `secure` presents a certificate of the CA the gateway is given;
    // `untrusted` one of another CA; `mtls` asks for a client certificate.
    let server = ServerCerts::new("wrnexus upstream test CA")?;
    let server_files = server.write(files.path())?;
    let stranger = ServerCerts::new("wrnexus stranger CA")?;
    let client = ClientCerts::new("wrnexus gateway clients CA", "wrnexus gateway")?;
    let client_files = client.write(files.path())?;
    let secure = Upstream::start("secure", Router::new(), Some(tls_config(&server, None)?)).await?;
    let untrusted = Upstream::start(
        "untrusted",
        Router::new(),
        Some(tls_config(&stranger, None)?),
    )
    .await?;
    let mtls = Upstream::start(
        "mtls",
        Router::new(),
        Some(tls_config(&server, Some(&client.ca))?),
    )
    .await?;
    let a = Upstream::plain("a").await?;
    let b = Upstream::plain("b").await?;
    let slow_router = || Router::new().route("/lc/slow", axum::routing::get(slow));
    let c = Upstream::start("c", slow_router(), None).await?;
    let d = Upstream::start("d", slow_router(), None).await?;
    let ca = path(&server_files.ca);
    let (cert, key) = (path(&client_files.cert), path(&client_files.key));
    let config = format!(
        r#"
[[gateway.routes]]
name = "secure"
path_prefix = "/secure"
upstream = "{secure}"
ca_file = "{ca}"

[[gateway.routes]]
name = "untrusted"
path_prefix = "/untrusted"
upstream = "{untrusted}"
ca_file = "{ca}"

[[gateway.routes]]
name = "wrong-name"
path_prefix = "/wrong-name"
upstream = "{secure_by_ip}"
ca_file = "{ca}"
tls_server_name = "other.example"

[[gateway.routes]]
name = "mtls"
path_prefix = "/mtls"
upstream = "{mtls}"
ca_file = "{ca}"
client_cert_file = "{cert}"
client_key_file = "{key}"

[[gateway.routes]]
name = "mtls-anonymous"
path_prefix = "/anonymous"
upstream = "{mtls}"
ca_file = "{ca}"

[[gateway.routes]]
name = "pair"
path_prefix = "/pair"
upstream = ["{a}", "{b}"]
health_check_path = "/healthz"
health_check_interval_ms = 200
health_check_timeout_ms = 500
unhealthy_threshold = 1
healthy_threshold = 1

[[gateway.routes]]
name = "lc"
path_prefix = "/lc"
upstream = ["{c}", "{d}"]
balance = "least_connections"
health_check_interval_ms = 0
"#,
        secure = secure.url("localhost"),
        secure_by_ip = secure.url("127.0.0.1"),
        untrusted = untrusted.url("localhost"),
        mtls = mtls.url("localhost"),
        a = a.url("127.0.0.1"),
        b = b.url("127.0.0.1"),
        c = c.url("127.0.0.1"),
        d = d.url("127.0.0.1"),
    );
    Ok(Apps {
        secure,
        untrusted,
        mtls,
        a,
        b,
        c,
        d,
        _files: files,
        config,
    })
}

#[tokio::test]
async fn upstreams_grown_up() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let mut apps = start_apps().await?;
    let stack = Stack::routed(&database_url, &services::redis_url(), &apps.config).await?;
    // A failed assertion shows the gateway's log too.
    let result = std::panic::AssertUnwindSafe(flows(&stack, &mut apps))
        .catch_unwind()
        .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            eprintln!("{e}\n{}", stack.logs());
            Err(e)
        }
        Err(panic) => {
            eprintln!("{}", stack.logs());
            std::panic::resume_unwind(panic)
        }
    }
}

async fn flows(stack: &Stack, apps: &mut Apps) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let alice = sign_up(&c, gw, &client::email("alice")).await?;
    tls(gw, &alice, apps).await?;
    balance_and_health(stack, &alice, apps).await?;
    least_connections(gw, &alice, apps).await?;
    dead_address_retried(gw, &alice, apps).await?;
    Ok(())
}

async fn get(
    user: &User,
    url: &str,
) -> TestResult<(StatusCode, reqwest::header::HeaderMap, Value)> {
    let response = user
        .req(&http(), Method::GET, url)
        .header(ACCEPT, "application/json")
        .send()
        .await?;
    let headers = response.headers().clone();
    let (status, body) = json_body(response).await?;
    Ok((status, headers, body))
}

/// A problem+json answer with `status` and `code`, carrying the request id
/// the `X-Request-Id` header repeats.
async fn expect_problem(user: &User, url: &str, status: StatusCode, code: &str) -> TestResult {
    let (got, headers, body) = get(user, url).await?;
    assert_eq!(got, status, "{url}: {body}");
    assert_eq!(body["code"], code, "{url}: {body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{url}"
    );
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .ok_or("no x-request-id")?;
    assert!(!request_id.is_empty());
    assert_eq!(body["request_id"], request_id, "{body}");
    Ok(())
}

async fn tls(gw: &str, alice: &User, apps: &Apps) -> TestResult {
    // Verified against the configured CA, and given the identity headers.
    let (status, _, echo) = get(alice, &format!("{gw}/secure/hello")).await?;
    assert_eq!(
        (status, echo["app"].as_str()),
        (StatusCode::OK, Some("secure")),
        "{echo}"
    );
    let headers = &echo["headers"];
    assert_eq!(
        headers["x-workspace-id"],
        alice.workspace_id.as_str(),
        "{echo}"
    );
    assert_eq!(headers["x-user-id"], alice.id.as_str(), "{echo}");
    assert_eq!(headers["x-workspace-role"], "owner", "{echo}");
    assert_eq!(apps.secure.hits(), 1);

    // Signed by another CA, or valid for another name: refused, and the app
    // gets nothing.
    expect_problem(
        alice,
        &format!("{gw}/untrusted/x"),
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
    )
    .await?;
    assert_eq!(
        apps.untrusted.hits(),
        0,
        "an unverified upstream was sent the request"
    );
    expect_problem(
        alice,
        &format!("{gw}/wrong-name/x"),
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
    )
    .await?;
    assert_eq!(
        apps.secure.hits(),
        1,
        "a certificate for another name was accepted"
    );

    // Mutual TLS: reached with the client certificate, refused without.
    let (status, _, echo) = get(alice, &format!("{gw}/mtls/x")).await?;
    assert_eq!(
        (status, echo["app"].as_str()),
        (StatusCode::OK, Some("mtls")),
        "{echo}"
    );
    assert_eq!(echo["headers"]["x-user-id"], alice.id.as_str(), "{echo}");
    expect_problem(
        alice,
        &format!("{gw}/anonymous/x"),
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
    )
    .await?;
    assert_eq!(apps.mtls.hits(), 1, "reached without a client certificate");
    Ok(())
}

/// `wrnexus_gateway_upstream_healthy` of `route` at `port`.
async fn healthy(stack: &Stack, route: &str, port: u16) -> TestResult<Option<i64>> {
    let text = http()
        .get(format!("{}/metrics", stack.admin))
        .send()
        .await?
        .text()
        .await?;
    let address = format!("address=\"127.0.0.1:{port}\"");
    let route = format!("route=\"{route}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("wrnexus_gateway_upstream_healthy{"))
        .find(|l| l.contains(&address) && l.contains(&route))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok()))
}

/// Wait until the gateway exports `want` for `route` at `port`.
async fn until_healthy(stack: &Stack, route: &str, port: u16, want: i64) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = healthy(stack, route, port).await?;
        if now == Some(want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{route} 127.0.0.1:{port}: healthy {now:?}, wanted {want}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` requests to the pair route, each answered 200: which app answered.
async fn pair_requests(gw: &str, alice: &User, n: usize) -> TestResult<Vec<String>> {
    let mut answered = Vec::with_capacity(n);
    for i in 0..n {
        let (status, _, echo) = get(alice, &format!("{gw}/pair/{i}")).await?;
        assert_eq!(status, StatusCode::OK, "request {i}: {echo}");
        answered.push(echo["app"].as_str().unwrap_or("").to_string());
    }
    Ok(answered)
}

async fn balance_and_health(stack: &Stack, alice: &User, apps: &mut Apps) -> TestResult {
    let gw = stack.gateway.as_str();
    until_healthy(stack, "pair", apps.a.port, 1).await?;
    until_healthy(stack, "pair", apps.b.port, 1).await?;

    // Round robin: both addresses serve.
    let answered = pair_requests(gw, alice, 10).await?;
    let from = |name: &str| answered.iter().filter(|a| *a == name).count();
    assert_eq!((from("a"), from("b")), (5, 5), "{answered:?}");

    // `b` dies: once its check fails, every request succeeds on `a`.
    apps.b.stop().await?;
    until_healthy(stack, "pair", apps.b.port, 0).await?;
    let b_before = apps.b.hits();
    let answered = pair_requests(gw, alice, 20).await?;
    assert!(answered.iter().all(|a| a == "a"), "{answered:?}");
    assert_eq!(apps.b.hits(), b_before);

    // Back: it serves again.
    apps.b.restart().await?;
    until_healthy(stack, "pair", apps.b.port, 1).await?;
    let answered = pair_requests(gw, alice, 10).await?;
    assert!(answered.iter().any(|a| a == "b"), "{answered:?}");
    assert!(answered.iter().any(|a| a == "a"), "{answered:?}");

    // None left: 503 upstream_unavailable, with the request id.
    apps.a.stop().await?;
    apps.b.stop().await?;
    until_healthy(stack, "pair", apps.a.port, 0).await?;
    until_healthy(stack, "pair", apps.b.port, 0).await?;
    expect_problem(
        alice,
        &format!("{gw}/pair/x"),
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await?;
    Ok(())
}

async fn least_connections(gw: &str, alice: &User, apps: &Apps) -> TestResult {
    let (c, d) = (&apps.c, &apps.d);
    // One slow request holds one address…
    let slow = {
        let (alice, url) = (alice.clone(), format!("{gw}/lc/slow"));
        tokio::spawn(async move { get(&alice, &url).await.map(|(status, _, _)| status) })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.hits() + d.hits() == 0 {
        assert!(Instant::now() < deadline, "the slow request reached no app");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (busy, idle) = if c.hits() == 1 { (c, d) } else { (d, c) };
    // …so every new request goes to the other while it lasts. One
    // keep-alive connection: each request is over (and uncounted) before
    // the next is read.
    let client = http();
    for i in 0..6 {
        let response = alice
            .req(&client, Method::GET, &format!("{gw}/lc/{i}"))
            .header(ACCEPT, "application/json")
            .send()
            .await?;
        let (status, echo) = json_body(response).await?;
        assert_eq!(status, StatusCode::OK, "{echo}");
        assert_eq!(
            echo["app"], idle.app.name,
            "request {i} went to the busy app: {echo}"
        );
    }
    assert_eq!(busy.hits(), 1);
    assert_eq!(idle.hits(), 6);
    let status = slow.await.map_err(|e| e.to_string())??;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

/// An address that dies is not seen by clients even before (here:
/// without) a health check: a connection refused is tried on the other
/// address, and nothing is sent twice.
async fn dead_address_retried(gw: &str, alice: &User, apps: &mut Apps) -> TestResult {
    apps.d.stop().await?;
    let before = apps.c.hits();
    for i in 0..8 {
        let (status, _, echo) = get(alice, &format!("{gw}/lc/retry-{i}")).await?;
        assert_eq!(status, StatusCode::OK, "request {i}: {echo}");
        assert_eq!(echo["app"], apps.c.app.name, "{echo}");
    }
    assert_eq!(apps.c.hits(), before + 8);
    // Both dead: the problem the client gets is still the gateway's.
    apps.c.stop().await?;
    expect_problem(
        alice,
        &format!("{gw}/lc/none"),
        StatusCode::BAD_GATEWAY,
        "upstream_unreachable",
    )
    .await
}
