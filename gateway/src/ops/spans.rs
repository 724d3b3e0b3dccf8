//! A request's OpenTelemetry spans, when tracing is configured and the trace
//! sampled: the request (server) span; under it the admission with its
//! phases (credential, resolve, decide) and the upstream call (client),
//! whose spans are the parents the control plane and the app are told about.
//! Phases are timed by the request's own clock and recorded when they end.

use crate::upstream::trace_context::TraceContext;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags,
    TraceId, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use std::time::{Instant, SystemTime};

/// The spans of one sampled request.
#[derive(Debug)]
pub struct RequestSpans {
    tracer: SdkTracer,
    request: Context,
    /// The admission's span, while it runs and after (its phases' parent).
    admit: Option<Context>,
    /// The upstream call's span, until the upstream answered.
    upstream: Option<Context>,
    /// The request's arrival on the monotonic clock…
    started: Instant,
    /// …and on the wall clock.
    started_at: SystemTime,
}

/// The `traceparent` naming the span of `context` as the parent.
fn traceparent_of(context: &Context) -> String {
    let span = context.span();
    let span = span.span_context();
    format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8() & 1
    )
}

impl RequestSpans {
    /// Start the request's span: a trusted proxy's span's child when `trace`
    /// adopted one, else a new trace's root; `trace` takes its ids and the
    /// sampler's decision (passed on in `traceparent`). `None` when the
    /// trace is not sampled: nothing is recorded for it.
    pub fn start(
        tracer: &SdkTracer,
        trace: &mut TraceContext,
        started: Instant,
        started_at: SystemTime,
        method: &str,
    ) -> Option<Box<Self>> {
        let parent = match trace.parent_span_id {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(trace.trace_id),
                SpanId::from_bytes(parent),
                TraceFlags::new(trace.flags),
                true,
                TraceState::NONE,
            )),
            None => Context::new(),
        };
        let builder = SpanBuilder::from_name(method.to_string())
            .with_kind(SpanKind::Server)
            .with_start_time(started_at)
            .with_attributes([KeyValue::new("http.request.method", method.to_string())]);
        let span = tracer.build_with_context(builder, &parent);
        let context = span.span_context().clone();
        if context.is_valid() {
            trace.trace_id = context.trace_id().to_bytes();
            trace.span_id = context.span_id().to_bytes();
        }
        if !context.is_sampled() {
            trace.flags &= !1;
            return None;
        }
        trace.flags |= 1;
        Some(Box::new(RequestSpans {
            tracer: tracer.clone(),
            request: Context::new().with_span(span),
            admit: None,
            upstream: None,
            started,
            started_at,
        }))
    }

    /// `instant` on the wall clock.
    fn at(&self, instant: Instant) -> SystemTime {
        self.started_at + instant.saturating_duration_since(self.started)
    }

    fn child(
        &self,
        parent: &Context,
        name: &'static str,
        kind: SpanKind,
        from: Instant,
    ) -> Context {
        let builder = SpanBuilder::from_name(name)
            .with_kind(kind)
            .with_start_time(self.at(from));
        Context::new().with_span(self.tracer.build_with_context(builder, parent))
    }

    /// The admission starts now; returns the `traceparent` its calls to the
    /// control plane carry.
    pub fn begin_admit(&mut self) -> String {
        let admit = self.child(&self.request, "admit", SpanKind::Internal, Instant::now());
        let traceparent = traceparent_of(&admit);
        self.admit = Some(admit);
        traceparent
    }

    /// The admission ended now.
    pub fn end_admit(&mut self) {
        if let Some(admit) = &self.admit {
            admit.span().end();
        }
    }

    /// A phase of the admission, from `from` until now.
    pub fn phase(&self, name: &'static str, from: Instant, attributes: Vec<KeyValue>) {
        let parent = self.admit.as_ref().unwrap_or(&self.request);
        let phase = self.child(parent, name, SpanKind::Internal, from);
        let span = phase.span();
        span.set_attributes(attributes);
        span.end();
    }

    /// The call to the upstream (`peer`) starts at `from`; returns the
    /// `traceparent` the upstream is given.
    pub fn begin_upstream(&mut self, from: Instant, peer: &str) -> String {
        // A connection that failed before this one (the request is retried
        // on another address).
        if let Some(failed) = self.upstream.take() {
            let span = failed.span();
            span.set_status(Status::error("could not connect"));
            span.end();
        }
        let upstream = self.child(&self.request, "upstream", SpanKind::Client, from);
        upstream
            .span()
            .set_attribute(KeyValue::new("server.address", peer.to_string()));
        let traceparent = traceparent_of(&upstream);
        self.upstream = Some(upstream);
        traceparent
    }

    /// The upstream answered with `status` (its header; the body may follow).
    pub fn end_upstream(&mut self, status: u16) {
        if let Some(upstream) = self.upstream.take() {
            let span = upstream.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 500 {
                span.set_status(Status::error("upstream answered with a server error"));
            }
            span.end();
        }
    }

    /// The request ended: named for its `route`, with its `status` (0: no
    /// answer was written) and what it came to.
    pub fn finish(mut self, method: &str, route: &str, status: u16, attributes: Vec<KeyValue>) {
        self.end_admit();
        if let Some(upstream) = self.upstream.take() {
            let span = upstream.span();
            span.set_status(Status::error("no answer from the upstream"));
            span.end();
        }
        let span = self.request.span();
        span.update_name(format!("{method} {route}"));
        span.set_attribute(KeyValue::new("http.route", route.to_string()));
        if status != 0 {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        span.set_attributes(attributes);
        if status == 0 || status >= 500 {
            span.set_status(Status::error("the request failed"));
        }
        span.end_with_timestamp(self.at(Instant::now()));
    }
}

#[cfg(test)]
#[path = "spans_tests.rs"]
mod tests;
