//! Several apps behind one gateway: host and prefix routing, a public path,
//! a per-route `admin` action, the forwarding headers, framing refusals,
//! WebSockets and streamed bodies. Control plane on Postgres and Redis; the
//! apps are in-process servers of this test.

use axum::Router;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HOST};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{self, User, http, json_body, raw_exchange, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

async fn start_app(name: &'static str) -> TestResult<(App, u16)> {
    let router = Router::new().route("/app/stream", axum::routing::post(apps::stream_back));
    apps::serve(App::new(name), router).await
}

fn routes(alpha: u16, beta: u16, ws: u16) -> String {
    format!(
        r#"trusted_proxies = ["10.0.0.0/8"]

[[gateway.routes]]
name = "alpha"
path_prefix = "/app"
upstream = "http://127.0.0.1:{alpha}"
actions = [{{ methods = ["POST"], path_prefix = "/app/admin", action = "admin" }}]

[[gateway.routes]]
name = "alpha-public"
path_prefix = "/public"
upstream = "http://127.0.0.1:{alpha}"
public = true

[[gateway.routes]]
name = "beta"
path_prefix = "/beta"
upstream = "http://127.0.0.1:{beta}"
connect_timeout_ms = 1000
read_timeout_ms = 10000
idle_timeout_secs = 30

[[gateway.routes]]
name = "beta-host"
host = "beta.test"
path_prefix = "/"
upstream = "http://127.0.0.1:{beta}"

[[gateway.routes]]
name = "ws"
path_prefix = "/ws"
upstream = "http://127.0.0.1:{ws}"
"#
    )
}

async fn get_echo(
    user: Option<&User>,
    url: &str,
    host: Option<&str>,
) -> TestResult<(StatusCode, Value)> {
    let c = http();
    let mut req = match user {
        Some(u) => u.req(&c, Method::GET, url),
        None => c.get(url),
    };
    req = req.header(ACCEPT, "application/json");
    if let Some(host) = host {
        req = req.header(HOST, host);
    }
    json_body(req.send().await?).await
}

#[tokio::test]
async fn apps_behind_one_gateway() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let (alpha, alpha_port) = start_app("alpha").await?;
    let (_beta, beta_port) = start_app("beta").await?;
    let ws_port = apps::ws_echo().await?;
    let stack = Stack::routed(
        &database_url,
        &services::redis_url(),
        &routes(alpha_port, beta_port, ws_port),
    )
    .await?;
    let result = flows(&stack, &alpha, ws_port).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

async fn flows(stack: &Stack, alpha: &App, _ws_port: u16) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let api = format!("{gw}/.wrnexus/api/v1");
    let mut alice = sign_up(&c, gw, &client::email("alice")).await?;

    // Prefix and host routing; nothing served elsewhere.
    let (status, echo) = get_echo(Some(&alice), &format!("{gw}/app/page"), None).await?;
    assert_eq!(
        (status, echo["app"].as_str()),
        (StatusCode::OK, Some("alpha")),
        "{echo}"
    );
    assert_eq!(echo["headers"]["x-workspace-role"], "owner");
    let (status, echo) = get_echo(Some(&alice), &format!("{gw}/beta/page"), None).await?;
    assert_eq!(
        (status, echo["app"].as_str()),
        (StatusCode::OK, Some("beta")),
        "{echo}"
    );
    let (status, echo) = get_echo(
        Some(&alice),
        &format!("{gw}/app/page"),
        Some("BETA.test:80"),
    )
    .await?;
    assert_eq!(
        (status, echo["app"].as_str()),
        (StatusCode::OK, Some("beta")),
        "the host route beats the host-less prefix: {echo}"
    );
    let (status, body) = get_echo(Some(&alice), &format!("{gw}/elsewhere"), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "no_route");

    // A public path: no cookie needed, and no identity reaches the app,
    // not even spoofed or with a valid session.
    let r = c
        .get(format!("{gw}/public/about"))
        .header("x-user-id", "evil")
        .header("X_Workspace_Role", "owner")
        .send()
        .await?;
    let (status, echo) = json_body(r).await?;
    assert_eq!(
        (status, echo["app"].as_str()),
        (StatusCode::OK, Some("alpha")),
        "{echo}"
    );
    for name in [
        "x-user-id",
        "x-workspace-id",
        "x-workspace-role",
        "x_workspace_role",
    ] {
        assert!(
            echo["headers"].get(name).is_none(),
            "{name} reached the app: {echo}"
        );
    }
    let (_, echo) = get_echo(Some(&alice), &format!("{gw}/public/about"), None).await?;
    assert!(echo["headers"].get("x-user-id").is_none(), "{echo}");
    assert!(
        !echo["headers"]["cookie"]
            .as_str()
            .unwrap_or("")
            .contains(client::COOKIE_NAME),
        "the session cookie reached a public app: {echo}"
    );
    // Not public: refused without a cookie.
    let (status, _) = get_echo(None, &format!("{gw}/app/page"), None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A per-route `admin` action: a member may write but not administer.
    let team = client::create_workspace(&c, gw, &alice, "Routed").await?;
    let mut bob = sign_up(&c, gw, &client::email("bob")).await?;
    client::join(&c, gw, &alice, &mut bob, &team, "member").await?;
    client::switch(&c, gw, &mut alice, &team).await?;
    let post = |u: &User, path: &str| u.req(&c, Method::POST, &format!("{gw}{path}")).send();
    assert_eq!(post(&bob, "/app/notes").await?.status(), StatusCode::OK);
    let (status, body) = json_body(post(&bob, "/app/admin/settings").await?).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("admin"),
        "{body}"
    );
    assert_eq!(
        post(&alice, "/app/admin/settings").await?.status(),
        StatusCode::OK
    );

    // Forwarding headers from an untrusted peer are replaced.
    let r = bob
        .req(&c, Method::GET, &format!("{gw}/app/whoami"))
        .header("x-forwarded-for", "1.2.3.4")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("x-request-id", "spoofed-request-id")
        .send()
        .await?;
    let (status, echo) = json_body(r).await?;
    assert_eq!(status, StatusCode::OK);
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{echo}");
    assert_eq!(h["x-forwarded-proto"], "http", "{echo}");
    assert_ne!(h["x-forwarded-host"], "evil.example", "{echo}");
    let request_id = h["x-request-id"].as_str().unwrap_or("");
    assert!(
        !request_id.is_empty() && request_id != "spoofed-request-id",
        "{echo}"
    );

    framing(gw, &bob, alpha).await?;
    streaming(gw, &bob).await?;
    websockets(gw, &bob).await?;

    // Bob's open socket in the team is cut once he is removed from it.
    let (mut ws, _) = open_socket(gw, &bob).await?;
    ws.send(Message::text("before")).await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await?
        .ok_or("the socket closed")??;
    assert_eq!(reply.into_text()?.as_str(), "before");
    let r = alice
        .req(
            &c,
            Method::DELETE,
            &format!("{api}/workspaces/{team}/members/{}", bob.id),
        )
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    // The next frames find the connection cut: no echo comes back.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        if ws.send(Message::text("after")).await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(m))) => assert!(
                std::time::Instant::now() < deadline,
                "still echoing after removal: {m:?}"
            ),
            Err(_) => assert!(
                std::time::Instant::now() < deadline,
                "socket neither cut nor answering"
            ),
        }
    }
    Ok(())
}

/// A signed-in WebSocket through the gateway.
async fn open_socket(
    gw: &str,
    user: &User,
) -> TestResult<(
    tokio_tungstenite::WebSocketStream<TcpStream>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
)> {
    let host = gw.trim_start_matches("http://");
    let mut request = format!("ws://{host}/ws/echo").into_client_request()?;
    request.headers_mut().insert("cookie", user.cookie.parse()?);
    Ok(tokio_tungstenite::client_async(request, TcpStream::connect(host).await?).await?)
}

/// Ambiguous framing is refused before anything reaches the app.
async fn framing(gw: &str, user: &User, alpha: &App) -> TestResult {
    let host = gw.trim_start_matches("http://");
    let cookie = &user.cookie;
    let before = alpha.hits();
    let cases: [(String, Option<&str>); 3] = [
        (
            format!(
                "POST /app/x HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Length: 5\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
            ),
            Some("conflicting_framing"),
        ),
        (
            // pingora refuses this itself, with its own plain 400.
            format!(
                "POST /app/x HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Length: 3\r\n\
                 Content-Length: 4\r\nConnection: close\r\n\r\nabcd"
            ),
            None,
        ),
        (
            format!(
                "GET /app/x HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAuthorization: Bearer a\r\n\
                 Authorization: Bearer b\r\nConnection: close\r\n\r\n"
            ),
            Some("duplicate_authorization"),
        ),
    ];
    for (request, code) in cases {
        let (status, text) = raw_exchange(gw, request.as_bytes()).await?;
        assert_eq!(status, 400, "{request:?} -> {text}");
        if let Some(code) = code {
            assert!(text.contains(&format!("\"code\":\"{code}\"")), "{text}");
            assert!(text.contains("application/problem+json"), "{text}");
        }
    }
    assert_eq!(alpha.hits(), before, "a refused request reached the app");
    Ok(())
}

/// A chunked request body streams through: the first chunk comes back
/// before the rest is sent.
async fn streaming(gw: &str, user: &User) -> TestResult {
    let host = gw.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await?;
    let head = format!(
        "POST /app/stream HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nAccept: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        user.cookie
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(b"5\r\nfirst\r\n").await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .map_err(|_| {
                format!(
                    "the first chunk did not come back: {:?}",
                    String::from_utf8_lossy(&seen)
                )
            })??;
        if n == 0 {
            return Err(format!("closed early: {:?}", String::from_utf8_lossy(&seen)).into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await?;
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut seen)).await??;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("second"), "{text}");
    Ok(())
}

/// A signed-in user's WebSocket upgrade passes through and echoes; an
/// unauthenticated one is refused like any request.
async fn websockets(gw: &str, user: &User) -> TestResult {
    let host = gw.trim_start_matches("http://");
    let url = format!("ws://{host}/ws/echo");

    // Many upgrades in a row, each speaking at once: with a fast upstream
    // the 101 often arrives before the gateway has finished with the
    // upgrade request, and no tunnel may be torn down for it.
    for i in 0..40 {
        let mut request = url.as_str().into_client_request()?;
        request.headers_mut().insert("cookie", user.cookie.parse()?);
        let (mut ws, response) =
            tokio_tungstenite::client_async(request, TcpStream::connect(host).await?).await?;
        assert_eq!(response.status().as_u16(), 101);
        let text = format!("hello through the gateway, {i}");
        ws.send(Message::text(text.as_str())).await?;
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await?
            .ok_or("the socket closed")?
            .map_err(|e| format!("upgrade {i}: {e}"))?;
        assert_eq!(reply.into_text()?.as_str(), text);
        ws.close(None).await?;
    }

    let request = url.as_str().into_client_request()?;
    match tokio_tungstenite::client_async(request, TcpStream::connect(host).await?).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401);
        }
        Err(e) => return Err(format!("unexpected error: {e}").into()),
        Ok(_) => return Err("an unauthenticated upgrade went through".into()),
    }
    Ok(())
}
