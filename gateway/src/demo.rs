//! The demo upstream: answers every request with JSON of what it received,
//! so a person (and a test) sees exactly what an app behind WRNexus sees.
//! A browser (an `Accept` preferring `text/html`) gets the same JSON in a
//! small page whose header carries the `<wrnexus-switcher>`. A request's
//! body is read whole (its length is echoed), so the connection stays
//! reusable, as a real app's does. With a record
//! file it also appends each request it receives as one JSON line, so what
//! reached the app can be checked afterwards.

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::io::{LineWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Largest request body read; a longer one is answered 413.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Longest delay a request may ask for.
const MAX_DELAY_MS: u64 = 10_000;

/// The page browsers get; `{{name}}` marks a slot.
const PAGE: &str = include_str!("../assets/demo.html");

/// Whether `Accept` ranks `text/html` above JSON (and above nothing).
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let mut html = 0.0_f32;
    let mut json = 0.0_f32;
    for accept in headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "text/html" => html = html.max(q),
                "application/json" => json = json.max(q),
                _ => {}
            }
        }
    }
    html > 0.0 && html > json
}

/// Escape text for HTML content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for one echoed request.
fn page(echo: &Value) -> String {
    let field = |name: &str| -> String {
        let value = echo["headers"][name].as_str().unwrap_or("none");
        escape(value)
    };
    let path = match echo["query"].as_str() {
        Some(q) if !q.is_empty() => format!("{}?{q}", echo["path"].as_str().unwrap_or("/")),
        _ => echo["path"].as_str().unwrap_or("/").to_string(),
    };
    let pretty = serde_json::to_string_pretty(echo).unwrap_or_default();
    // One pass per slot, values last: the JSON may contain `{{`.
    PAGE.replace("{{path}}", &escape(&path))
        .replace("{{workspace}}", &field("x-workspace-id"))
        .replace("{{role}}", &field("x-workspace-role"))
        .replace("{{json}}", &escape(&pretty))
}

/// Appends every request the demo app receives to a file, one JSON line
/// each: `at_ms` (Unix time in milliseconds, fractional), and the echo.
#[derive(Debug)]
pub struct Recorder {
    file: Mutex<LineWriter<std::fs::File>>,
}

impl Recorder {
    /// Append to `path`, creating it if needed.
    pub fn open(path: &Path) -> std::io::Result<Recorder> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Recorder {
            file: Mutex::new(LineWriter::new(file)),
        })
    }

    /// Append one received request.
    fn record(&self, echo: &Value) {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let line = json!({"at_ms": at_ms, "request": echo}).to_string();
        if let Ok(mut file) = self.file.lock()
            && let Err(e) = writeln!(file, "{line}")
        {
            tracing::warn!(error = %e, "demo upstream: cannot append to the record file");
        }
    }
}

/// Echo one request; `?delay_ms=N` answers after N ms (a slow app, for
/// trying timeouts and graceful shutdown).
pub async fn echo(req: Request) -> Response {
    echo_recorded(req, None).await
}

async fn echo_recorded(req: Request, recorder: Option<Arc<Recorder>>) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"error": "body_too_large", "limit_bytes": MAX_BODY_BYTES})),
        )
            .into_response();
    };
    let req = Request::from_parts(parts, ());
    let delay = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("delay_ms="))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |ms| ms.min(MAX_DELAY_MS));
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
    let echo = json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query().unwrap_or(""),
        "headers": headers,
        "body_bytes": body.len(),
    });
    if let Some(recorder) = &recorder {
        recorder.record(&echo);
    }
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if prefers_html(req.headers()) {
        Html(page(&echo)).into_response()
    } else {
        Json(echo).into_response()
    }
}

/// The demo app: every path echoes.
pub fn router() -> Router {
    Router::new().fallback(echo)
}

/// The demo app appending every request to `recorder`.
pub fn recording_router(recorder: Arc<Recorder>) -> Router {
    Router::new().fallback(move |req: Request| echo_recorded(req, Some(recorder.clone())))
}

/// Serve the demo app until the process ends; with `recorder`, every
/// request is appended to its file.
pub async fn serve(listener: TcpListener, recorder: Option<Recorder>) -> std::io::Result<()> {
    let app = match recorder {
        Some(recorder) => recording_router(Arc::new(recorder)),
        None => router(),
    };
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        headers
    }

    #[test]
    fn browsers_get_html_everyone_else_json() {
        let chrome =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert!(prefers_html(&accept(chrome)));
        assert!(prefers_html(&accept("text/html")));
        assert!(!prefers_html(&accept("*/*")));
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&accept("application/json, text/html;q=0.5")));
        assert!(!prefers_html(&accept("text/html;q=0")));
        assert!(!prefers_html(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_recorder_appends_each_request_as_a_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("record.jsonl");
        let recorder = Arc::new(Recorder::open(&path)?);
        for uri in ["/a?x=1", "/b"] {
            let req = Request::builder()
                .uri(uri)
                .header("x-user-id", "u1")
                .body(axum::body::Body::empty())?;
            let res = echo_recorded(req, Some(recorder.clone())).await;
            assert_eq!(res.status(), axum::http::StatusCode::OK);
        }
        let text = std::fs::read_to_string(&path)?;
        let lines: Vec<Value> = text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["request"]["path"], "/a");
        assert_eq!(lines[0]["request"]["query"], "x=1");
        assert_eq!(lines[1]["request"]["headers"]["x-user-id"], "u1");
        assert!(
            lines[1]["at_ms"].as_f64().unwrap_or(0.0) >= lines[0]["at_ms"].as_f64().unwrap_or(1.0)
        );
        Ok(())
    }

    #[tokio::test]
    async fn bodies_are_read_and_their_length_echoed() -> Result<(), Box<dyn std::error::Error>> {
        let req = Request::builder()
            .method("POST")
            .uri("/items")
            .body(axum::body::Body::from("{\"n\":1}"))?;
        let res = echo(req).await;
        assert_eq!(res.status(), axum::http::StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await?;
        let echoed: Value = serde_json::from_slice(&body)?;
        assert_eq!(echoed["body_bytes"], 7);
        let big = Request::builder()
            .method("POST")
            .uri("/items")
            .body(axum::body::Body::from(vec![b'x'; MAX_BODY_BYTES + 1]))?;
        let res = echo(big).await;
        assert_eq!(res.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
        Ok(())
    }

    #[test]
    fn the_page_escapes_what_it_echoes() {
        let echo = json!({
            "method": "GET", "path": "/<b>", "query": "x=\"1\"",
            "headers": {"x-workspace-id": "w<1>", "x-evil": "</pre><script>"},
        });
        let html = page(&echo);
        assert!(html.contains("<wrnexus-switcher>"));
        assert!(html.contains(r#"src="/.wrnexus/switcher.js""#));
        assert!(!html.contains("<b>") && !html.contains("</pre><script>"));
        assert!(html.contains("/&lt;b&gt;?x=&quot;1&quot;"));
        assert!(html.contains("w&lt;1&gt;"));
    }
}
