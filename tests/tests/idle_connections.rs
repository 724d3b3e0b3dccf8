//! Idle connections on both sides of the gateway end: a client's
//! keep-alive connection is closed `keepalive_timeout_secs` after its last
//! answer whatever `Keep-Alive: timeout=` it asked for (and serves every
//! request meanwhile), and a pooled connection to the app is closed
//! `idle_timeout_secs` after its last use, by the gateway. The app here is a
//! bare TCP server of the test that never closes a connection itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// When each connection the app accepted was closed by the gateway.
type Closed = Arc<Mutex<Vec<Instant>>>;

/// Answer every request on a connection with `200 ok`, keeping it open
/// until the other side closes it; note when it did.
async fn app(listener: TcpListener, closed: Closed) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let closed = closed.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
                // Requests without a body: each head ends the request.
                while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    seen.drain(..end + 4);
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if conn.write_all(answer).await.is_err() {
                        return;
                    }
                }
            }
            if let Ok(mut closed) = closed.lock() {
                closed.push(Instant::now());
            }
        });
    }
}

/// Send one request on `stream` and read its answer (with a
/// `Content-Length`); the status line and body.
async fn exchange(stream: &mut TcpStream, request: &str) -> TestResult<(String, String)> {
    stream.write_all(request.as_bytes()).await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
            if seen.len() >= end + 4 + length {
                let status = head.lines().next().unwrap_or("").to_string();
                return Ok((status, text[end + 4..end + 4 + length].to_string()));
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
        if n == 0 {
            return Err(format!(
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&seen)
            )
            .into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
}

/// How long until the gateway closes `stream` (nothing more may arrive).
async fn closed_after(stream: &mut TcpStream) -> TestResult<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf))
        .await
        .map_err(|_| "the gateway kept an idle client connection for 15 s")??;
    assert_eq!(
        n,
        0,
        "nothing but the close: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    Ok(start.elapsed())
}

#[tokio::test]
async fn idle_connections_are_closed_on_both_sides() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let closed = Closed::default();
    tokio::spawn(app(listener, closed.clone()));
    let extra = format!(
        "keepalive_timeout_secs = 2\n\n[[gateway.routes]]\nname = \"bare\"\npath_prefix = \"/\"\n\
         upstream = \"http://127.0.0.1:{port}\"\nidle_timeout_secs = 2\n"
    );
    let stack = Stack::routed(&database_url, &services::redis_url(), &extra).await?;
    let gw = stack.gateway.as_str();
    let alice = sign_up(&http(), gw, &client::email("alice")).await?;
    let host = gw.trim_start_matches("http://");
    let request = format!(
        "GET /doc HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nConnection: keep-alive\r\n\
         Keep-Alive: timeout=3600\r\n\r\n",
        alice.cookie
    );

    let mut client = TcpStream::connect(host).await?;
    for _ in 0..3 {
        let (status, body) = exchange(&mut client, &request).await?;
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{status}: {}",
            stack.logs()
        );
        assert_eq!(body, "ok");
    }
    // Idle for less than the bound: the connection still serves.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, _) = exchange(&mut client, &request).await?;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let answered = Instant::now();
    let idle = closed_after(&mut client).await?;
    assert!(
        idle >= Duration::from_millis(1500) && idle < Duration::from_secs(6),
        "the client connection was closed {idle:?} after its last answer; the bound is 2 s \
         (the client asked for an hour)"
    );

    // The app's side: the pooled connection was used last for that answer
    // and is closed by the gateway about 2 s later; the app never closes.
    let deadline = Instant::now() + Duration::from_secs(15);
    let at = loop {
        let first = closed.lock().map_err(|_| "poisoned")?.first().copied();
        if let Some(at) = first {
            break at;
        }
        if Instant::now() > deadline {
            return Err("the gateway kept an idle upstream connection for 15 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let idle = at.duration_since(answered);
    assert!(
        idle >= Duration::from_millis(1500) && idle < Duration::from_secs(6),
        "the upstream connection was closed {idle:?} after its last use; the bound is 2 s"
    );
    Ok(())
}
