//! The request's spans at the phases pingora runs: the admission's
//! `traceparent`, the upstream call, and the request's end with what it
//! came to (only when tracing is on and the trace sampled).

use crate::ops::loggable_path::loggable;
use crate::proxy::ctx::{Admitted, Ctx};
use crate::proxy::gateway::Gateway;
use crate::upstream::trace_context::{self, Layer, Parent};
use opentelemetry::KeyValue;
use pingora::prelude::Session;
use std::time::Instant;

/// The resolve phase's attributes: whether the gateway's memory held all
/// (`local`), else the deepest layer asked (none: another request's fetch
/// was awaited).
pub(super) fn cache_attributes(local: bool) -> Vec<KeyValue> {
    let (cache, layer) = if local {
        ("hit", Layer::Memory.as_str())
    } else {
        (
            "miss",
            trace_context::deepest_asked().map_or("shared", Layer::as_str),
        )
    };
    vec![
        KeyValue::new("wrnexus.cache", cache),
        KeyValue::new("wrnexus.cache.layer", layer),
    ]
}

/// The resolve phase's attributes when the connection's last request's
/// data was reused (nothing looked up).
pub(super) fn reused_attributes() -> Vec<KeyValue> {
    vec![
        KeyValue::new("wrnexus.cache", "connection"),
        KeyValue::new("wrnexus.cache.layer", Layer::Memory.as_str()),
    ]
}

impl Gateway {
    /// The parent the admission's calls to the control plane name: the
    /// admission's span, or (untraced) the request's.
    pub(super) fn begin_admission(ctx: &mut Ctx) -> Option<Parent> {
        match ctx.spans.as_mut() {
            Some(spans) => Some(Parent::Span(spans.begin_admit())),
            None => ctx.trace.map(Parent::Request),
        }
    }

    /// The `traceparent` the upstream (`peer`, named only when traced) is
    /// given: the upstream call's span, or (untraced) the request's.
    pub(super) fn begin_upstream(ctx: &mut Ctx, peer: &dyn std::fmt::Display) -> Option<String> {
        match ctx.spans.as_mut() {
            Some(spans) => Some(spans.begin_upstream(Instant::now(), &peer.to_string())),
            None => ctx.trace.as_ref().map(|t| t.traceparent()),
        }
    }

    /// End the request's spans, `status` being what the client got (0:
    /// nothing).
    pub(super) fn finish_spans(&self, session: &Session, ctx: &mut Ctx, status: u16) {
        let Some(spans) = ctx.spans.take() else {
            return;
        };
        let req = session.req_header();
        let mut attributes = vec![
            KeyValue::new("url.path", loggable(req.uri.path()).into_owned()),
            KeyValue::new("wrnexus.request_id", ctx.request_id.clone()),
            KeyValue::new("wrnexus.outcome", ctx.outcome.as_str()),
            KeyValue::new("wrnexus.principal", ctx.access.credential.as_str()),
        ];
        if let Some(cause) = ctx.access.cause {
            attributes.push(KeyValue::new("wrnexus.cause", cause));
        }
        if let Some(Admitted::Allowed { identity, .. }) = &ctx.admitted {
            attributes.push(KeyValue::new(
                "wrnexus.workspace_id",
                identity.workspace_id.clone(),
            ));
        }
        let route = self.route_name(ctx.routed).unwrap_or("unrouted");
        spans.finish(req.method.as_str(), route, status, attributes);
    }
}
