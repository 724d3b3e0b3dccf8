//! The demo upstream: answers every request with JSON of what it received,
//! so a person (and a test) sees exactly what an app behind WRNexus sees.

use axum::Json;
use axum::Router;
use axum::extract::Request;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

/// Longest delay a request may ask for.
const MAX_DELAY_MS: u64 = 10_000;

/// Echo one request; `?delay_ms=N` answers after N ms (a slow app, for
/// trying timeouts and graceful shutdown).
pub async fn echo(req: Request) -> Json<Value> {
    let delay = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("delay_ms="))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |ms| ms.min(MAX_DELAY_MS));
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    Json(json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query().unwrap_or(""),
        "headers": headers,
    }))
}

/// The demo app: every path echoes.
pub fn router() -> Router {
    Router::new().fallback(echo)
}

/// Serve the demo app until the process ends.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}
