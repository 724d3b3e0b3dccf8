//! One server span per request, named for the matched route, continuing the
//! trace of the caller's W3C `traceparent` (the gateway's, for calls that
//! pass through it), so a request's handler and store calls join its trace.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use wrnexus_contract::headers::REQUEST_ID;

/// The longest request id recorded on a span; longer ones are left out.
const MAX_REQUEST_ID: usize = 128;

/// Routes polled by monitoring and by the gateways in the background
/// (signing keys, key-use reports): traced only within a caller's trace.
const UNTRACED_ALONE: [&str; 6] = [
    "/metrics",
    "/v1/health",
    "/.wrnexus/api/v1/health",
    "/v1/keys",
    "/v1/assertion-keys",
    "/v1/internal/key-usage",
];

/// Request headers, read by the W3C trace-context propagator.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The request id the gateway forwarded, when it is fit for a span.
fn request_id(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(REQUEST_ID)?.to_str().ok()?.trim();
    (!value.is_empty()
        && value.len() <= MAX_REQUEST_ID
        && value.bytes().all(|b| b.is_ascii_graphic()))
    .then_some(value)
}

/// Run the request inside a `{METHOD} {route}` server span, child of the
/// caller's `traceparent` when it sends one, and record the status it ends
/// with (an error status for a 5xx).
pub async fn trace_request(request: Request, next: Next) -> Response {
    let method = crate::metrics::method_label(request.method());
    let route = crate::metrics::route_label(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    // Scrapes, probes and the gateways' polls start no trace of their own.
    if UNTRACED_ALONE.contains(&route) && !request.headers().contains_key("traceparent") {
        return next.run(request).await;
    }
    let span = tracing::info_span!(
        target: "wrnexus_control_plane::request",
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        wrnexus.request_id = Empty,
    );
    if !span.is_disabled() {
        let headers = request.headers();
        if let Some(id) = request_id(headers) {
            span.record("wrnexus.request_id", id);
        }
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        if parent.span().span_context().is_valid() {
            // Fails only when no OpenTelemetry layer takes the span (tracing
            // off): there is no trace to continue then.
            let _ = span.set_parent(parent);
        }
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::trace_request;
    use axum::Router;
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::get;
    use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId, TracerProvider as _};
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tracing_subscriber::layer::SubscriberExt;

    type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[tracing::instrument(name = "store.thing", skip_all)]
    async fn thing(id: String) -> Result<String, StatusCode> {
        if id == "broken" {
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        } else {
            Ok(id)
        }
    }

    fn router() -> Router {
        Router::new()
            .route(
                "/things/{id}",
                get(|Path(id): Path<String>| async move { thing(id).await }),
            )
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(axum::middleware::from_fn(trace_request))
    }

    fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|kv: &&KeyValue| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn named<'a>(spans: &'a [SpanData], name: &str) -> Result<&'a SpanData, String> {
        spans
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("no span {name} among {spans:?}"))
    }

    /// Serve `router()` on a local port, send `paths` (with the test's
    /// `traceparent` and a request id), and return the spans exported.
    async fn spans_of(
        paths: &[&str],
    ) -> Result<Vec<SpanData>, Box<dyn std::error::Error + Send + Sync>> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer().with_tracer(provider.tracer("wrnexus-control-plane")),
        );
        // The test runtime has one thread: the server's tasks see this
        // subscriber too.
        let _default = tracing::subscriber::set_default(subscriber);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move { axum::serve(listener, router()).await });
        let client = reqwest::Client::new();
        for path in paths {
            client
                .get(format!("http://{address}{path}"))
                .header("traceparent", TRACEPARENT)
                .header("x-request-id", "req-1")
                .send()
                .await?;
        }
        server.abort();
        provider.force_flush()?;
        Ok(exporter.get_finished_spans()?)
    }

    #[tokio::test]
    async fn a_request_continues_the_callers_trace() -> TestResult {
        let spans = spans_of(&["/things/7"]).await?;
        let server = named(&spans, "GET /things/{id}")?;
        assert_eq!(
            server.span_context.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?
        );
        assert_eq!(server.parent_span_id, SpanId::from_hex("00f067aa0ba902b7")?);
        assert!(server.parent_span_is_remote);
        assert_eq!(server.span_kind, SpanKind::Server);
        assert_eq!(server.status, Status::Unset);
        assert_eq!(
            attribute(server, "http.route"),
            Some(&Value::from("/things/{id}"))
        );
        assert_eq!(
            attribute(server, "http.request.method"),
            Some(&Value::from("GET"))
        );
        assert_eq!(
            attribute(server, "http.response.status_code"),
            Some(&Value::I64(200))
        );
        assert_eq!(
            attribute(server, "wrnexus.request_id"),
            Some(&Value::from("req-1"))
        );
        assert_eq!(server.instrumentation_scope.name(), "wrnexus-control-plane");

        let store = named(&spans, "store.thing")?;
        assert_eq!(
            store.span_context.trace_id(),
            server.span_context.trace_id()
        );
        assert_eq!(store.parent_span_id, server.span_context.span_id());
        assert_eq!(store.span_kind, SpanKind::Internal);
        Ok(())
    }

    #[tokio::test]
    async fn a_server_error_and_an_unknown_route_are_told() -> TestResult {
        let spans = spans_of(&["/things/broken", "/nowhere"]).await?;
        let failed = named(&spans, "GET /things/{id}")?;
        assert_eq!(
            attribute(failed, "http.response.status_code"),
            Some(&Value::I64(500))
        );
        assert!(matches!(failed.status, Status::Error { .. }));
        let unmatched = named(&spans, "GET unmatched")?;
        assert_eq!(
            attribute(unmatched, "http.response.status_code"),
            Some(&Value::I64(404))
        );
        assert_eq!(
            attribute(unmatched, "http.route"),
            Some(&Value::from("unmatched"))
        );
        assert_eq!(unmatched.status, Status::Unset);
        Ok(())
    }
}
