//! Back-channel logout end to end: a session signed in through the
//! workspace's provider, in use at two gateways and on an open WebSocket,
//! is ended by the provider's back-channel logout — both gateways refuse
//! it within a second, the WebSocket is closed, another session of the
//! same person (another provider session) lives on; audited and sent as a
//! webhook. Postgres and Redis.

#[allow(dead_code)]
mod sso_support;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;
use sso_support::net::{LogoutRelay, echo_and_ws};
use sso_support::proxy::IdpProxy;
use sso_support::{
    CLIENT_W, Db, HOOK_WAIT, Problems, SsoStack, account, acme, landed, sso, start_path, subscribe,
};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{User, http, until};
use wrnexus_e2e::oidc::ProviderConfig;
use wrnexus_e2e::services::redis_url;

const BOB: (&str, &str, &str) = ("bob-sub", "bob@acme.example", "bob-pw");

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket through gateway `gw` as `user`, echoing.
async fn open_socket(gw: &str, user: &User) -> TestResult<Socket> {
    let host = gw.trim_start_matches("http://");
    let mut request = format!("ws://{host}/ws/echo").into_client_request()?;
    request.headers_mut().insert("cookie", user.cookie.parse()?);
    let (mut ws, response) =
        tokio_tungstenite::client_async(request, TcpStream::connect(host).await?).await?;
    if response.status().as_u16() != 101 {
        return Err(format!("no upgrade: {}", response.status()).into());
    }
    ws.send(Message::text("hello")).await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await?
        .ok_or("the socket closed")??;
    if reply.into_text()?.as_str() != "hello" {
        return Err("the socket did not echo".into());
    }
    Ok(ws)
}

/// Whether the socket is closed within `within`.
async fn closed_within(ws: &mut Socket, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        loop {
            let _ = ws.send(Message::text("still there?")).await;
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .is_ok()
}

async fn status(c: &Client, user: &User, url: &str) -> TestResult<StatusCode> {
    Ok(user.req(c, Method::GET, url).send().await?.status())
}

async fn logout(s: &mut SsoStack, c: &Client, p: &mut Problems) -> TestResult {
    let relay = LogoutRelay::start().await?;
    let config = ProviderConfig {
        issuer_path: String::new(),
        clients: vec![
            s.client(CLIENT_W.0, CLIENT_W.1)
                .backchannel_logout(&relay.url),
        ],
        accounts: vec![account(BOB)],
    };
    let Some(proxy) = IdpProxy::start(config).await? else {
        return Ok(());
    };
    let idp = &proxy.idp;
    let (owner, w, connection) = acme(s, c, &idp.issuer).await?;
    let logout_uri = connection["backchannel_logout_uri"]
        .as_str()
        .ok_or("no backchannel_logout_uri")?;
    relay.forward_to(logout_uri);
    let (hooked, body) = subscribe(s, c, &owner, &w, &["sso.logout"]).await?;
    p.check(hooked == StatusCode::CREATED, || {
        format!("subscribing to sso.logout: {hooked} {body}")
    });
    if hooked != StatusCode::CREATED {
        subscribe(s, c, &owner, &w, &["*"]).await?;
    }

    // Two sign-ins of Bob's, from two browsers: two provider sessions.
    let start = start_path(&w, "/");
    let (bob, _) = landed(
        c,
        &s.base,
        &sso(c, &s.base, idp, &start, (BOB.1, BOB.2)).await?,
    )
    .await?;
    let sid = proxy
        .issued()
        .last()
        .and_then(|claims| claims["sid"].as_str().map(str::to_string))
        .ok_or("no sid in the ID token")?;
    let (other, _) = landed(
        c,
        &s.base,
        &sso(c, &s.base, idp, &start, (BOB.1, BOB.2)).await?,
    )
    .await?;
    let (gw2, _) = s.stack.add_gateway(&redis_url()).await?;
    let gateways = [s.stack.gateway.clone(), gw2];
    for gw in &gateways {
        let got = status(c, &bob, &format!("{gw}/app/x")).await?;
        if got != StatusCode::OK {
            return Err(format!("Bob's session at {gw}: {got}").into());
        }
    }
    let mut ws = open_socket(&s.stack.gateway, &bob).await?;

    // A logout token signed by a key the provider does not publish ends
    // nothing.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let forged = proxy
        .sign_unpublished(&json!({
            "iss": idp.issuer, "aud": CLIENT_W.0, "iat": now, "jti": "forged-1",
            "sub": BOB.0, "sid": sid,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        }))
        .ok_or("signing a forged logout token")?;
    let answer = c
        .post(logout_uri)
        .form(&[("logout_token", forged.as_str())])
        .send()
        .await?;
    p.check(answer.status() == StatusCode::BAD_REQUEST, || {
        format!("a forged logout token: {}", answer.status())
    });
    let got = status(c, &bob, &format!("{}/app/x", s.stack.gateway)).await?;
    p.check(got == StatusCode::OK, || {
        format!("a forged logout token ended the session: {got}")
    });

    // The provider ends the first session.
    idp.backchannel_logout(CLIENT_W.0, BOB.0, &sid).await?;
    for gw in &gateways {
        let url = format!("{gw}/app/x");
        let took = until(
            c,
            &bob,
            &url,
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(1),
        )
        .await;
        p.check(took.is_ok(), || format!("{gw} after the logout: {took:?}"));
    }
    p.check(closed_within(&mut ws, Duration::from_secs(1)).await, || {
        "the WebSocket outlived the logout by a second".to_string()
    });
    for gw in &gateways {
        let got = status(c, &other, &format!("{gw}/app/x")).await?;
        p.check(got == StatusCode::OK, || {
            format!("Bob's other provider session at {gw}: {got}")
        });
    }
    let rows = s.audit(c, &owner, &w, "sso.logout").await?;
    p.check(!rows.is_empty(), || "no sso.logout audit row".to_string());
    let hook = s.hooks.wait_for("sso.logout", HOOK_WAIT).await;
    p.check(hook.is_ok(), || format!("webhook: {hook:?}"));

    // The same logout again changes nothing and is still answered.
    let again = idp
        .try_backchannel_logout(CLIENT_W.0, BOB.0, Some(&sid))
        .await?;
    p.check(again["ok"] == true, || format!("a second logout: {again}"));
    Ok(())
}

#[tokio::test]
async fn the_providers_logout_ends_the_session_everywhere() -> TestResult {
    let port = echo_and_ws().await?;
    let upstream = format!("http://127.0.0.1:{port}");
    let env = [("WRNEXUS_GATEWAY__UPSTREAM", upstream.as_str())];
    let Some(mut s) = SsoStack::start(Db::Postgres, &env).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = logout(&mut s, &c, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| s.stack.logs())
}
