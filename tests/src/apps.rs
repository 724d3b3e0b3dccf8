//! In-process apps for the suites to put behind a gateway: each echoes
//! what it received as JSON (`app`, `method`, `path`, `query`, `headers`)
//! and counts the requests that reached it.

use crate::TestResult;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// An echoing app: its name and how many requests reached it.
#[derive(Clone, Debug)]
pub struct App {
    pub name: &'static str,
    pub hits: Arc<AtomicUsize>,
}

impl App {
    pub fn new(name: &'static str) -> Self {
        App {
            name,
            hits: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Requests that reached the app so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Count one request.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::SeqCst);
    }
}

/// The echo handler.
pub async fn echo(State(app): State<App>, req: Request) -> axum::Json<Value> {
    app.hit();
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert(name.as_str().to_string(), Value::String(value));
    }
    axum::Json(json!({
        "app": app.name,
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
    }))
}

/// Serve `router` (the echo as its fallback) on a free loopback port.
pub async fn serve(app: App, router: Router<App>) -> TestResult<(App, u16)> {
    let router = router.fallback(echo).with_state(app.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((app, port))
}

/// Streams the request body straight back (route it where a suite needs).
pub async fn stream_back(State(app): State<App>, req: Request) -> Response {
    app.hit();
    Response::new(Body::new(req.into_body()))
}

/// A WebSocket server on a free loopback port echoing every text message.
pub async fn ws_echo() -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_text() && ws.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}
