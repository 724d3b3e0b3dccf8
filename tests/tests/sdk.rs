//! An app protected by `wrnexus-sdk`, running in this test as an upstream
//! of the real gateway (control plane on Postgres and Redis): through the
//! gateway it sees who is calling, in which workspace and with which role;
//! called directly it refuses everyone, whatever identity headers they send.

use axum::Router;
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, User, http, json_body, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;
use wrnexus_sdk::{GatewayContext, GatewayLayer, Verifier};

/// The app: `/app/whoami` answers the verified context; `hits` counts the
/// requests that reached it.
fn app(verifier: Verifier, hits: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/app/whoami",
            get(move |ctx: GatewayContext| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({
                    "user_id": ctx.user_id(),
                    "api_key_id": ctx.api_key_id(),
                    "workspace_id": ctx.workspace_id,
                    "role": ctx.role,
                    "request_id": ctx.request_id,
                }))
            }),
        )
        .layer(GatewayLayer::new(verifier))
}

#[tokio::test]
async fn an_sdk_app_behind_the_gateway_sees_the_verified_workspace_context() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let routes = format!(
        "\n[[gateway.routes]]\nname = \"sdk-app\"\npath_prefix = \"/app\"\n\
         upstream = \"http://127.0.0.1:{port}\"\n"
    );
    let stack = Stack::routed(&database_url, &services::redis_url(), &routes).await?;
    // The keys the control plane publishes, fetched through the gateway.
    let verifier = Verifier::remote(
        &format!("{}/.wrnexus/api/v1/assertion-keys", stack.gateway),
        wrnexus_sdk::DEFAULT_AUDIENCE,
    )?;
    let hits = Arc::new(AtomicUsize::new(0));
    let router = app(verifier.clone(), hits.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let result = flows(&stack, port, &hits, &verifier).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

async fn whoami(c: &reqwest::Client, gw: &str, user: &User) -> TestResult<(StatusCode, Value)> {
    let r = user
        .req(c, Method::GET, &format!("{gw}/app/whoami"))
        .header("x-user-id", "user-spoofed")
        .header("x-workspace-role", "owner")
        .send()
        .await?;
    json_body(r).await
}

async fn flows(stack: &Stack, port: u16, hits: &AtomicUsize, verifier: &Verifier) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();

    // A new user is the owner of their personal workspace.
    let alice = sign_up(&c, gw, &client::email("alice")).await?;
    let (status, seen) = whoami(&c, gw, &alice).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["user_id"], alice.id.as_str(), "{seen}");
    assert_eq!(seen["workspace_id"], alice.workspace_id.as_str(), "{seen}");
    assert_eq!(seen["role"], "owner", "{seen}");
    assert_eq!(seen["api_key_id"], Value::Null, "{seen}");
    assert_eq!(verifier.key_fetches().await, 1);

    // A member of alice's team is seen as a member of the team.
    let team = client::create_workspace(&c, gw, &alice, "SDK team").await?;
    let mut bob = sign_up(&c, gw, &client::email("bob")).await?;
    client::join(&c, gw, &alice, &mut bob, &team, "member").await?;
    let (status, seen) = whoami(&c, gw, &bob).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(
        (&seen["user_id"], &seen["workspace_id"], &seen["role"]),
        (&json!(bob.id), &json!(team), &json!("member")),
        "{seen}"
    );

    // An API key is seen as the key, with its role ceiling.
    let (key_id, secret) = client::create_api_key(&c, gw, &alice, &team, "viewer").await?;
    let r = c
        .get(format!("{gw}/app/whoami"))
        .bearer_auth(&secret)
        .send()
        .await?;
    let (status, seen) = json_body(r).await?;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(
        (
            &seen["api_key_id"],
            &seen["user_id"],
            &seen["workspace_id"],
            &seen["role"]
        ),
        (&json!(key_id), &Value::Null, &json!(team), &json!("viewer")),
        "{seen}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(verifier.key_fetches().await, 1, "the keys were cached");

    bypass(&c, port, &alice, hits).await
}

/// Straight to the app, around the gateway: refused with or without
/// identity headers, and with an assertion signed by anyone else's key.
async fn bypass(c: &reqwest::Client, port: u16, alice: &User, hits: &AtomicUsize) -> TestResult {
    let direct = format!("http://127.0.0.1:{port}/app/whoami");
    let spoofed = c
        .get(&direct)
        .header("x-user-id", &alice.id)
        .header("x-workspace-id", &alice.workspace_id)
        .header("x-workspace-role", "owner")
        .header("cookie", &alice.cookie)
        .send()
        .await?;
    assert_eq!(
        spoofed
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let (status, body) = json_body(spoofed).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "not_through_gateway", "{body}");

    let (forger, _) = wrnexus_policies::assertion::AssertionKey::generate()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let forged = forger.sign(&wrnexus_policies::assertion::AssertionClaims {
        iss: wrnexus_policies::assertion::ASSERTION_ISSUER.into(),
        aud: wrnexus_policies::assertion::DEFAULT_ASSERTION_AUDIENCE.into(),
        sub: alice.id.clone(),
        kind: "user".into(),
        wid: alice.workspace_id.clone(),
        role: wrnexus_policies::model::Role::Owner,
        pid: None,
        rid: "forged".into(),
        iat: now,
        exp: now + 60,
    })?;
    let r = c
        .get(&direct)
        .header(wrnexus_sdk::ASSERTION_HEADER, forged)
        .send()
        .await?;
    let (status, body) = json_body(r).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unknown_assertion_key", "{body}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "a direct call reached the app"
    );
    Ok(())
}
