//! W3C trace context through the gateway: an app receives a `traceparent`
//! of the request's trace with the gateway's span as its parent; the trace
//! is the caller's only when the caller is a trusted proxy (a client's own
//! `traceparent` and `tracestate` never pass); every response names its
//! trace id in `x-trace-id`, a refusal also in its problem. Control plane on
//! Postgres and Redis.

use axum::Router;
use reqwest::header::ACCEPT;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{self, User, http, json_body, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// The trusted proxy's address: the same loopback, another source address.
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE}-{PARENT}-01")
}

fn routes(app: u16) -> String {
    format!(
        r#"trusted_proxies = ["{PROXY}"]

[[gateway.routes]]
name = "app"
path_prefix = "/app"
upstream = "http://127.0.0.1:{app}"
"#
    )
}

/// The (trace id, parent id) of a `traceparent`, checking its form.
fn parts(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00", "{traceparent}");
    assert_eq!(fields[1].len(), 32, "{traceparent}");
    assert_eq!(fields[2].len(), 16, "{traceparent}");
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    assert!(
        hex(fields[1]) && hex(fields[2]) && hex(fields[3]),
        "{traceparent}"
    );
    (fields[1].to_string(), fields[2].to_string())
}

/// What the app received for a signed-in request with a `traceparent`.
async fn echoed(client: &Client, gw: &str, user: &User) -> TestResult<Value> {
    let response = user
        .req(client, Method::GET, &format!("{gw}/app/items"))
        .header("traceparent", traceparent())
        .header("tracestate", "vendor=opaque")
        .send()
        .await?;
    let header = response
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (status, echo) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    // The client is told the trace the app was called in.
    let passed = echo["headers"]["traceparent"].as_str().unwrap_or_default();
    assert_eq!(parts(passed).0, header, "{echo}");
    Ok(echo)
}

/// A refusal's trace id, checked to be the same in body and header.
async fn refused_trace(client: &Client, gw: &str) -> TestResult<String> {
    let response = client
        .get(format!("{gw}/app/items"))
        .header(ACCEPT, "application/json")
        .header("traceparent", traceparent())
        .send()
        .await?;
    let header = response
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (status, problem) = json_body(response).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    let trace_id = problem["trace_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(trace_id.len(), 32, "{problem}");
    assert_eq!(header, trace_id, "{problem}");
    assert!(problem["request_id"].as_str().is_some(), "{problem}");
    Ok(trace_id)
}

#[tokio::test]
async fn the_trace_is_passed_on_and_adopted_only_from_trusted_proxies() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let (_app, port) = apps::serve(App::new("app"), Router::new()).await?;
    let stack = Stack::routed(&database_url, &services::redis_url(), &routes(port)).await?;
    let result = check(&stack).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

async fn check(stack: &Stack) -> TestResult {
    let gw = stack.gateway.as_str();
    let client_side = http();
    let proxy = Client::builder()
        .local_address(PROXY)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let user = sign_up(&client_side, gw, &client::email("traced")).await?;

    // A client picks no trace: the app gets a new one, whose parent is the
    // gateway's span; the client's `tracestate` is dropped.
    let echo = echoed(&client_side, gw, &user).await?;
    let passed = echo["headers"]["traceparent"].as_str().unwrap_or_default();
    let (trace, parent) = parts(passed);
    assert_ne!(trace, TRACE, "a client's trace was adopted: {echo}");
    assert_ne!(parent, PARENT, "{echo}");
    assert!(echo["headers"].get("tracestate").is_none(), "{echo}");

    // A trusted proxy's trace is joined: same trace, the gateway's span
    // in between.
    let echo = echoed(&proxy, gw, &user).await?;
    let passed = echo["headers"]["traceparent"].as_str().unwrap_or_default();
    let (trace, parent) = parts(passed);
    assert_eq!(trace, TRACE, "{echo}");
    assert_ne!(
        parent, PARENT,
        "the gateway's span is the app's parent: {echo}"
    );
    assert!(echo["headers"].get("tracestate").is_none(), "{echo}");

    // Refusals name their trace: the proxy's, or a new one for a client.
    assert_eq!(refused_trace(&proxy, gw).await?, TRACE);
    let own = refused_trace(&client_side, gw).await?;
    assert_ne!(own, TRACE);
    assert_ne!(
        own,
        refused_trace(&client_side, gw).await?,
        "one trace per request"
    );
    Ok(())
}
