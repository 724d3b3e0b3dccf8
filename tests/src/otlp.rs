//! An OTLP/HTTP trace receiver for the suites: `POST /v1/traces` with a
//! protobuf body, decoded with the official OTLP definitions. It keeps
//! every span it was sent, flattened with its resource's `service.name`
//! and its instrumentation scope, and counts every request it got.
//!
//! Also what a traced app does: export a span of its own under the
//! `traceparent` it was called with ([`export_app_span`]).

use crate::TestResult;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

const PROTOBUF: &str = "application/x-protobuf";

/// One received span, its ids in lowercase hex (a root's parent is "").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service: String,
    /// The instrumentation scope's name.
    pub scope: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    /// Every attribute, its value as text (`200`, `true`, `allow`).
    pub attributes: BTreeMap<String, String>,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
}

impl ReceivedSpan {
    /// The attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

impl std::fmt::Display for ReceivedSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}/{}] {:?} {:?} trace={} span={} parent={} {:?}",
            self.service,
            self.scope,
            self.name,
            self.kind,
            self.trace_id,
            self.span_id,
            self.parent_span_id,
            self.attributes
        )
    }
}

#[derive(Debug, Default)]
struct Received {
    spans: Mutex<Vec<ReceivedSpan>>,
    requests: AtomicUsize,
}

/// A running receiver; it stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// The base URL, e.g. `http://127.0.0.1:41234` (spans go to
    /// `{url}/v1/traces`).
    pub url: String,
    received: Arc<Received>,
}

impl Receiver {
    /// Listen on a free loopback port.
    pub async fn start() -> TestResult<Receiver> {
        let received = Arc::new(Received::default());
        let router = Router::new().fallback(receive).with_state(received.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Receiver { url, received })
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received
            .spans
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The spans of one trace received so far.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }

    /// How many requests (of any kind, to any path) reached the receiver.
    pub fn requests(&self) -> usize {
        self.received.requests.load(Ordering::SeqCst)
    }

    /// Poll until `predicate` holds over the spans received so far, for up
    /// to `timeout`; those spans. On timeout, an error listing them all.
    pub async fn wait_for(
        &self,
        predicate: impl Fn(&[ReceivedSpan]) -> bool,
        timeout: Duration,
    ) -> TestResult<Vec<ReceivedSpan>> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if predicate(&spans) {
                return Ok(spans);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the awaited spans did not arrive within {timeout:?}; received ({} requests):\n{}",
                    self.requests(),
                    listing(&spans)
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Spans one per line, for failure messages.
pub fn listing(spans: &[ReceivedSpan]) -> String {
    spans.iter().fold(String::new(), |mut out, s| {
        let _ = writeln!(out, "  {s}");
        out
    })
}

async fn receive(State(received): State<Arc<Received>>, request: Request) -> Response {
    received.requests.fetch_add(1, Ordering::SeqCst);
    if request.uri().path() != "/v1/traces" {
        return StatusCode::NOT_FOUND.into_response();
    }
    if request.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let headers = request.headers().clone();
    if let Some(refusal) = unsupported(&headers) {
        return refusal;
    }
    let body = match axum::body::to_bytes(request.into_body(), 64 << 20).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let export = match ExportTraceServiceRequest::decode(body) {
        Ok(export) => export,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let spans = flatten(export);
    match received.spans.lock() {
        Ok(mut all) => all.extend(spans),
        Err(p) => p.into_inner().extend(spans),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PROTOBUF)],
        Bytes::from(ExportTraceServiceResponse::default().encode_to_vec()),
    )
        .into_response()
}

/// A 415 for what this receiver cannot read: another content type, or a
/// compressed body (so a mismatch shows instead of passing unread).
fn unsupported(headers: &HeaderMap) -> Option<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(PROTOBUF) {
        return Some(
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content type {content_type:?}: only {PROTOBUF}"),
            )
                .into_response(),
        );
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match encoding {
        None | Some("") => None,
        Some(e) if e.eq_ignore_ascii_case("identity") => None,
        Some(e) => Some(
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content encoding {e:?}: only uncompressed bodies"),
            )
                .into_response(),
        ),
    }
}

fn flatten(export: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .map(text)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for span in scope_spans.spans {
                out.push(ReceivedSpan {
                    service: service.clone(),
                    scope: scope.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| {
                            (
                                kv.key.clone(),
                                kv.value.as_ref().map(text).unwrap_or_default(),
                            )
                        })
                        .collect(),
                    name: span.name,
                    start_time_unix_nano: span.start_time_unix_nano,
                    end_time_unix_nano: span.end_time_unix_nano,
                });
            }
        }
    }
    out
}

/// An attribute value as text.
fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(text).collect();
            format!("[{}]", items.join(","))
        }
        Some(any_value::Value::KvlistValue(l)) => {
            let items: Vec<String> = l
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}={}",
                        kv.key,
                        kv.value.as_ref().map(text).unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Some(any_value::Value::StringValueStrindex(i)) => format!("strindex:{i}"),
        None => String::new(),
    }
}

/// Lowercase hex of `bytes` ("" for none).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> TestResult<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {text:?}").into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            let pair = text.get(i..i + 2).ok_or("not hex")?;
            Ok(u8::from_str_radix(pair, 16)?)
        })
        .collect()
}

/// The (trace id, parent span id, flags) of a `traceparent`.
pub fn traceparent_parts(traceparent: &str) -> TestResult<(String, String, String)> {
    let fields: Vec<&str> = traceparent.trim().split('-').collect();
    match fields.as_slice() {
        ["00", trace, parent, flags]
            if trace.len() == 32 && parent.len() == 16 && flags.len() == 2 =>
        {
            Ok((trace.to_string(), parent.to_string(), flags.to_string()))
        }
        _ => Err(format!("not a traceparent: {traceparent:?}").into()),
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .unwrap_or_default()
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// What a traced app exports for one request handled under `traceparent`:
/// one SERVER span "app.handle" of service and scope "test-app", in the
/// same trace, its parent the traceparent's span, started `took` ago; its
/// new span id in hex beside it.
pub fn app_span_export(
    traceparent: &str,
    took: Duration,
) -> TestResult<(ExportTraceServiceRequest, String)> {
    let (trace_id, parent, _) = traceparent_parts(traceparent)?;
    let span_id: [u8; 8] = loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            break id;
        }
    };
    let end = now_nanos();
    let start = end.saturating_sub(u64::try_from(took.as_nanos()).unwrap_or_default());
    let span = Span {
        trace_id: unhex(&trace_id)?,
        span_id: span_id.to_vec(),
        parent_span_id: unhex(&parent)?,
        name: "app.handle".to_string(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![string_attr("http.request.method", "GET")],
        ..Default::default()
    };
    let export = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", "test-app")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test-app".to_string(),
                    ..Default::default()
                }),
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Ok((export, hex(&span_id)))
}

/// Export the app's own span (see [`app_span_export`]) to the receiver at
/// `receiver_url` as protobuf; its span id.
pub async fn export_app_span(receiver_url: &str, traceparent: &str) -> TestResult<String> {
    let (export, span_id) = app_span_export(traceparent, Duration::from_millis(1))?;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", receiver_url.trim_end_matches('/')))
        .header(header::CONTENT_TYPE, PROTOBUF)
        .body(export.encode_to_vec())
        .send()
        .await?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let body = response.text().await.unwrap_or_default();
        return Err(format!("exporting the app's span answered {status}: {body}").into());
    }
    ExportTraceServiceResponse::decode(response.bytes().await?)?;
    Ok(span_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_exported_span_is_received_flattened() -> TestResult {
        let receiver = Receiver::start().await?;
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let span_id = export_app_span(&receiver.url, traceparent).await?;
        let spans = receiver.spans();
        assert_eq!(spans.len(), 1, "{}", listing(&spans));
        let span = &spans[0];
        assert_eq!(span.service, "test-app");
        assert_eq!(span.scope, "test-app");
        assert_eq!(span.name, "app.handle");
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.parent_span_id, "00f067aa0ba902b7");
        assert_eq!(span.span_id, span_id);
        assert_eq!(span.attr("http.request.method"), Some("GET"));
        assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
        assert_eq!(receiver.requests(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn what_it_cannot_read_is_refused() -> TestResult {
        let receiver = Receiver::start().await?;
        let (export, _) = app_span_export(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Duration::ZERO,
        )?;
        let client = reqwest::Client::new();
        let url = format!("{}/v1/traces", receiver.url);
        let gzip = client
            .post(&url)
            .header(header::CONTENT_TYPE, PROTOBUF)
            .header(header::CONTENT_ENCODING, "gzip")
            .body(export.encode_to_vec())
            .send()
            .await?;
        assert_eq!(gzip.status(), reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let json = client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await?;
        assert_eq!(json.status(), reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let garbage = client
            .post(&url)
            .header(header::CONTENT_TYPE, PROTOBUF)
            .body(vec![0xff, 0xff, 0xff])
            .send()
            .await?;
        assert_eq!(garbage.status(), reqwest::StatusCode::BAD_REQUEST);
        assert!(receiver.spans().is_empty());
        assert_eq!(receiver.requests(), 3);
        Ok(())
    }
}
