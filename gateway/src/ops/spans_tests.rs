//! The spans a request records: their tree, names, kinds and the
//! `traceparent`s that point into it; nothing for an unsampled trace.

use super::*;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};

fn tracer(ratio: f64) -> (SdkTracerProvider, SdkTracer, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .build();
    let tracer = provider.tracer("wrnexus-gateway");
    (provider, tracer, exporter)
}

fn fresh_trace() -> TraceContext {
    TraceContext {
        trace_id: [7; 16],
        parent_span_id: None,
        span_id: [9; 8],
        flags: 1,
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Option<&'a SpanData> {
    spans.iter().find(|s| s.name == name)
}

#[test]
fn a_sampled_request_records_its_phases_under_it() {
    let (_provider, tracer, exporter) = tracer(1.0);
    let mut trace = fresh_trace();
    let started = Instant::now();
    let Some(mut spans) =
        RequestSpans::start(&tracer, &mut trace, started, SystemTime::now(), "GET")
    else {
        panic!("a ratio of 1 samples every trace");
    };
    let to_control_plane = spans.begin_admit();
    spans.phase(
        "credential",
        started,
        vec![KeyValue::new("wrnexus.credential", "session")],
    );
    spans.phase(
        "decide",
        Instant::now(),
        vec![KeyValue::new("wrnexus.decision", "allow")],
    );
    spans.end_admit();
    let to_app = spans.begin_upstream(Instant::now(), "127.0.0.1:3000");
    spans.end_upstream(200);
    spans.finish(
        "GET",
        "app",
        200,
        vec![KeyValue::new("wrnexus.outcome", "allow")],
    );

    let exported = exporter.get_finished_spans().unwrap_or_default();
    assert_eq!(exported.len(), 5, "{exported:?}");
    let request = named(&exported, "GET app").unwrap_or_else(|| panic!("{exported:?}"));
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(request.parent_span_id, SpanId::INVALID);
    // The request's trace and span are the ones the gateway reports.
    assert_eq!(request.span_context.trace_id().to_bytes(), trace.trace_id);
    assert_eq!(request.span_context.span_id().to_bytes(), trace.span_id);
    assert_eq!(trace.flags & 1, 1);
    let admit = named(&exported, "admit").unwrap_or_else(|| panic!("{exported:?}"));
    assert_eq!(admit.parent_span_id, request.span_context.span_id());
    for phase in ["credential", "decide"] {
        let span = named(&exported, phase).unwrap_or_else(|| panic!("{exported:?}"));
        assert_eq!(span.parent_span_id, admit.span_context.span_id(), "{phase}");
        assert!(span.start_time <= span.end_time, "{phase}");
    }
    let upstream = named(&exported, "upstream").unwrap_or_else(|| panic!("{exported:?}"));
    assert_eq!(upstream.span_kind, SpanKind::Client);
    assert_eq!(upstream.parent_span_id, request.span_context.span_id());
    // The control plane and the app are told the admission's and the
    // upstream call's span.
    let trace_hex = request.span_context.trace_id().to_string();
    assert_eq!(
        to_control_plane,
        format!("00-{trace_hex}-{}-01", admit.span_context.span_id())
    );
    assert_eq!(
        to_app,
        format!("00-{trace_hex}-{}-01", upstream.span_context.span_id())
    );
    assert!(
        request
            .attributes
            .contains(&KeyValue::new("http.response.status_code", 200))
    );
}

#[test]
fn a_trusted_callers_trace_is_continued() {
    let (_provider, tracer, exporter) = tracer(0.0);
    let mut trace = fresh_trace();
    trace.parent_span_id = Some([3; 8]);
    let spans = RequestSpans::start(
        &tracer,
        &mut trace,
        Instant::now(),
        SystemTime::now(),
        "GET",
    );
    // The caller sampled it: recorded although the ratio is 0.
    let Some(spans) = spans else {
        panic!("a sampled parent's trace is recorded");
    };
    spans.finish("GET", "unrouted", 404, Vec::new());
    let exported = exporter.get_finished_spans().unwrap_or_default();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].span_context.trace_id().to_bytes(), [7; 16]);
    assert_eq!(exported[0].parent_span_id.to_bytes(), [3; 8]);
}

#[test]
fn an_unsampled_trace_records_nothing_and_says_so() {
    let (_provider, tracer, exporter) = tracer(0.0);
    let mut trace = fresh_trace();
    let started = RequestSpans::start(
        &tracer,
        &mut trace,
        Instant::now(),
        SystemTime::now(),
        "GET",
    );
    assert!(started.is_none());
    assert_eq!(
        trace.flags & 1,
        0,
        "the app is told the trace is not sampled"
    );

    let (_provider, tracer, _) = self::tracer(1.0);
    let mut trace = fresh_trace();
    trace.parent_span_id = Some([3; 8]);
    trace.flags = 0;
    assert!(
        RequestSpans::start(
            &tracer,
            &mut trace,
            Instant::now(),
            SystemTime::now(),
            "GET"
        )
        .is_none(),
        "a caller that did not sample decides for its children"
    );
    assert!(exporter.get_finished_spans().unwrap_or_default().is_empty());
}
