//! Loopback plumbing for the single sign-on suites: a front door (a TCP
//! relay whose address is known before the gateway's, so the control plane
//! can be told its public URL), a relay for back-channel logouts (the
//! provider is told where to send them before the connection, whose id the
//! URI carries, exists), an upstream echoing both plain requests and
//! WebSockets, and a webhook receiver.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wrnexus_e2e::TestResult;

type Target = Arc<Mutex<Option<String>>>;

fn get(target: &Target) -> Option<String> {
    target.lock().ok().and_then(|t| t.clone())
}

fn set(target: &Target, value: &str) {
    if let Ok(mut t) = target.lock() {
        *t = Some(value.to_string());
    }
}

/// A TCP relay on a free loopback port: every connection is piped to the
/// address set with [`Front::forward_to`].
pub struct Front {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    target: Target,
}

impl Front {
    pub async fn bind() -> TestResult<Front> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let target = Target::default();
        let shared = target.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(addr) = get(&shared) else { continue };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Front { url, target })
    }

    /// Pipe connections to `base` (`http://host:port`).
    pub fn forward_to(&self, base: &str) {
        set(&self.target, base.trim_start_matches("http://"));
    }
}

/// Forwards what is POSTed to it (a back-channel logout) to the URL set
/// with [`LogoutRelay::forward_to`], answering with that URL's status.
#[derive(Clone)]
pub struct LogoutRelay {
    /// `http://127.0.0.1:PORT/logout`.
    pub url: String,
    target: Target,
}

async fn relay_logout(State(target): State<Target>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(url) = get(&target) else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let mut request = reqwest::Client::new().post(url).body(body.to_vec());
    if let Some(ct) = headers.get(reqwest::header::CONTENT_TYPE) {
        request = request.header(reqwest::header::CONTENT_TYPE, ct.as_bytes());
    }
    match request.send().await {
        Ok(r) => StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

impl LogoutRelay {
    pub async fn start() -> TestResult<LogoutRelay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let target = Target::default();
        let relay = LogoutRelay {
            url: format!("http://{}/logout", listener.local_addr()?),
            target: target.clone(),
        };
        let router = axum::Router::new()
            .route("/logout", post(relay_logout))
            .with_state(target);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(relay)
    }

    pub fn forward_to(&self, url: &str) {
        set(&self.target, url);
    }
}

/// An upstream on a free loopback port: a WebSocket upgrade is accepted
/// and echoes text messages; any other request gets `200` with its path.
pub async fn echo_and_ws() -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_one(stream));
        }
    });
    Ok(port)
}

async fn serve_one(mut stream: TcpStream) {
    // Look at the request head without taking it, to choose.
    let mut buf = vec![0u8; 8192];
    let started = Instant::now();
    let head_len = loop {
        let Ok(n) = stream.peek(&mut buf).await else {
            return;
        };
        if let Some(at) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if n == 0 || n == buf.len() || started.elapsed() > Duration::from_secs(5) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).to_ascii_lowercase();
    if head.contains("upgrade: websocket") {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() && ws.send(message).await.is_err() {
                return;
            }
        }
        return;
    }
    let mut taken = vec![0u8; head_len];
    if stream.read_exact(&mut taken).await.is_err() {
        return;
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{path}",
        path.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Receives webhook deliveries on a free loopback port and keeps their
/// JSON bodies.
#[derive(Clone)]
pub struct Hooks {
    /// `http://127.0.0.1:PORT/hooks`.
    pub url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn keep(State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> StatusCode {
    if let (Ok(value), Ok(mut all)) = (serde_json::from_slice(&body), bodies.lock()) {
        all.push(value);
    }
    StatusCode::NO_CONTENT
}

impl Hooks {
    pub async fn start() -> TestResult<Hooks> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let hooks = Hooks {
            url: format!("http://{}/hooks", listener.local_addr()?),
            bodies: bodies.clone(),
        };
        let router = axum::Router::new()
            .route("/hooks", post(keep))
            .with_state(bodies);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(hooks)
    }

    /// Every delivery received so far.
    pub fn received(&self) -> Vec<Value> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// The first delivery of an event of `event_type`, waiting up to `within`.
    pub async fn wait_for(&self, event_type: &str, within: Duration) -> TestResult<Value> {
        let started = Instant::now();
        loop {
            if let Some(event) = self
                .received()
                .into_iter()
                .find(|b| b["type"] == event_type)
            {
                return Ok(event);
            }
            if started.elapsed() > within {
                return Err(format!(
                    "no `{event_type}` webhook within {within:?}; received {:?}",
                    self.received()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
