//! The life of a request, one pingora phase after another: prepare
//! (request id, framing, canonical path) → admit (route, credential,
//! decision data, Cedar) → forward what was admitted, with the header
//! contract → watch the answer. Nothing reaches an upstream without an
//! admission; every response the gateway makes itself is a [`Refusal`].

mod access;
mod admit;
mod api_key;
pub mod ctx;
mod decide;
pub mod gateway;
mod prepare;
mod project;
mod session;
mod traced;

pub use ctx::{Admitted, Ctx};
pub use gateway::Gateway;

use crate::refusal::{Refusal, Reply};
use crate::upstream::headers;
use crate::upstream::request::{self as upstream_request, Forward};
use crate::upstream::trace_context;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::proxy::FailToProxy;
use pingora::upstreams::peer::Peer as _;
use pingora::{Error, Result};
use std::any::Any;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::data::remembered::ConnectionMemory;

/// End an upgraded connection whose access was taken away.
fn cut_if_revoked(ctx: &Ctx) -> Result<()> {
    match &ctx.cut {
        Some(flag) if flag.load(Ordering::Relaxed) => Err(Refusal::access_changed()),
        _ => Ok(()),
    }
}

/// Write the gateway's own answer; `hsts`: the header to add over TLS.
async fn write_reply(
    session: &mut Session,
    reply: Reply,
    hsts: Option<&http::HeaderValue>,
) -> Result<()> {
    let mut header = ResponseHeader::build(reply.status, Some(reply.headers.len() + 2))?;
    for (name, value) in reply.headers {
        header.insert_header(name, value)?;
    }
    if let Some(hsts) = hsts {
        header.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts)?;
    }
    header.insert_header("content-length", reply.body.len().to_string())?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(reply.body), true).await
}

/// The control plane's peer; its idle connections are closed as an app's are.
fn peer(target: &(std::net::SocketAddr, bool, String)) -> Box<HttpPeer> {
    let mut peer = HttpPeer::new(target.0, target.1, target.2.clone());
    peer.options.idle_timeout = Some(crate::upstream::pool::DEFAULT_IDLE_TIMEOUT);
    Box::new(peer)
}

#[async_trait]
impl ProxyHttp for Gateway {
    /// Boxed: pingora keeps the context inline in each request's future
    /// (three times over), which is allocated and copied per request.
    type CTX = Box<Ctx>;

    fn new_ctx(&self) -> Box<Ctx> {
        Box::new(Ctx::new())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Box<Ctx>) -> Result<bool> {
        self.metrics.in_flight.inc();
        ctx.counted = true;
        crate::edge::keepalive::bound(session, self.keepalive_secs);
        let prepared = prepare::identify_and_frame(self, session, ctx)
            .and_then(|()| prepare::authority_as_host(session))
            .and_then(|()| prepare::canonical_target(session));
        let verdict = match prepared {
            Ok(()) => {
                let traceparent = Gateway::begin_admission(ctx);
                let verdict =
                    trace_context::within(traceparent, self.admit(session.req_header(), ctx)).await;
                if let Some(spans) = ctx.spans.as_mut() {
                    spans.end_admit();
                }
                verdict
            }
            Err(refusal) => Err(refusal),
        };
        let decided = Instant::now();
        let decision_time = decided.duration_since(ctx.started);
        let decision_us = decision_time.as_micros();
        ctx.access.decision_us = Some(u64::try_from(decision_us).unwrap_or(u64::MAX));
        ctx.outcome = match &verdict {
            Ok(admitted) => admitted.outcome(),
            Err(refusal) => refusal.outcome(),
        };
        self.series
            .decision_seconds
            .observe(ctx.outcome.as_str(), decision_time.as_secs_f64());
        match verdict {
            Ok(admitted) => {
                ctx.admitted = Some(admitted);
                // The upstream is chosen next: its time starts here.
                ctx.upstream_started = Some(decided);
                Ok(false)
            }
            Err(refusal) => {
                ctx.access.cause = Some(refusal.code().as_str());
                let reply = refusal.reply_traced(&ctx.request_id, ctx.trace_id.as_deref());
                write_reply(session, reply, self.hsts_for(ctx)).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Box<Ctx>,
    ) -> Result<Box<HttpPeer>> {
        ctx.upstream_started.get_or_insert_with(Instant::now);
        let peer = match ctx.admitted()?.app() {
            None => peer(&self.control_plane),
            Some(app) => {
                // Every address out of balance: 503, nothing forwarded. The
                // lease counts the request against its address until the
                // context drops (a retry's new lease returns the last one).
                let (peer, lease) = app
                    .pool()
                    .select()
                    .ok_or_else(Refusal::upstream_unavailable)?;
                ctx.lease = Some(lease);
                Box::new(peer)
            }
        };
        ctx.upstream_traceparent = Gateway::begin_upstream(ctx, peer.address());
        Ok(peer)
    }

    /// A connection that could not be made carried nothing of the request:
    /// it is tried on another of the route's addresses (each at most once),
    /// so an address that died is not seen by clients before its health
    /// check takes it out of balance.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Box<Ctx>,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.connect_failures += 1;
        let addresses = match ctx.admitted.as_ref().and_then(Admitted::app) {
            Some(app) => app.pool().addresses(),
            None => 1,
        };
        if ctx.connect_failures < addresses {
            e.set_retry(true);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        let (to_app, identity) = match ctx.admitted()? {
            Admitted::ControlPlane => (false, None),
            Admitted::Public(_) => (true, None),
            Admitted::Allowed { identity, .. } => (true, Some(&**identity)),
        };
        let traceparent = ctx.upstream_traceparent.as_deref();
        let forward = Forward {
            request_id: &ctx.request_id,
            client_ip: ctx.client_ip,
            tls: ctx.tls,
            trusted_proxies: &self.trusted_proxies,
            session_cookie: to_app.then_some(self.cookie_name.as_str()),
            session_cookie_alone: ctx.session_cookie_alone,
            identity,
            assertion: self.assertion.as_ref(),
            traceparent,
        };
        upstream_request::rewrite(upstream, &session.req_header().headers, &forward)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        if let Some(spans) = ctx.spans.as_mut() {
            spans.end_upstream(upstream.status.as_u16());
        }
        if let Some(started) = ctx.upstream_started.take() {
            let took = started.elapsed();
            ctx.access.upstream_ms = Some(crate::ops::access_line::millis(took));
            self.route_series(ctx.routed)
                .observe_upstream(took.as_secs_f64());
        }
        if let Some(hsts) = self.hsts_for(ctx) {
            upstream.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts)?;
        }
        // The client can find the request's trace (the app's own value, if
        // any, is replaced: the gateway's is the one it was traced under).
        if let Some(trace_id) = &ctx.trace_id {
            upstream.insert_header(crate::refusal::TRACE_ID_HEADER, trace_id.as_str())?;
        }
        // An app cannot set (fix) the session: its `Set-Cookie` for the
        // session cookie is dropped, its other cookies kept.
        if !matches!(ctx.admitted, Some(Admitted::ControlPlane)) {
            headers::drop_set_cookie(upstream, &self.cookie_name)?;
        }
        if let Some(Admitted::Allowed {
            identity,
            set_cookie,
            ..
        }) = ctx.admitted.as_mut()
        {
            if let Some(cookie) = set_cookie.take() {
                upstream.append_header("set-cookie", cookie)?;
            }
            // An upgraded connection lives on: watch what its access rests on.
            if upstream.status.as_u16() == 101 {
                ctx.cut = Some(self.sockets.register(&identity.depends_on()));
            }
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Box<Ctx>,
    ) -> Result<()> {
        cut_if_revoked(ctx)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Box<Ctx>,
    ) -> Result<Option<std::time::Duration>> {
        cut_if_revoked(ctx).map(|()| None)
    }

    /// Whatever failed (a dead or slow upstream, a broken request), the
    /// client gets a problem with the request id, never pingora's page.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Box<Ctx>,
    ) -> FailToProxy {
        let refusal = Refusal::of_proxy_error(e);
        let mut code = refusal.as_ref().map_or(0, Refusal::status);
        if let Some(refusal) = refusal {
            ctx.access.cause = Some(refusal.code().as_str());
            if ctx.request_id.is_empty() {
                ctx.request_id = wrnexus_policies::ids::new_id();
            }
            if ctx.outcome == crate::refusal::Outcome::None {
                ctx.outcome = refusal.outcome();
            }
            tracing::warn!(request_id = %ctx.request_id, error = %e, code = refusal.code().as_str(), "request failed");
            if session.response_written().is_none() {
                let reply = refusal.reply_traced(&ctx.request_id, ctx.trace_id.as_deref());
                if let Err(write) = write_reply(session, reply, self.hsts_for(ctx)).await {
                    tracing::debug!(request_id = %ctx.request_id, error = %write, "could not answer");
                    code = 0;
                }
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &Box<Ctx>,
    ) -> Option<Box<dyn Any + Send + Sync>> {
        if ctx.remembered.is_none() && ctx.remembered_key.is_none() {
            return None;
        }
        Some(Box::new(ConnectionMemory {
            session: ctx.remembered.clone(),
            key: ctx.remembered_key.clone(),
        }))
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut Box<Ctx>,
        previous: Box<dyn Any + Send + Sync>,
    ) {
        if let Ok(memory) = previous.downcast::<ConnectionMemory>() {
            let ConnectionMemory { session, key } = *memory;
            ctx.remembered = session;
            ctx.remembered_key = key;
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Box<Ctx>) {
        if ctx.counted {
            self.metrics.in_flight.dec();
        }
        let (code, text) = session
            .response_written()
            .map_or((0, "0"), |r| (r.status.as_u16(), r.status.as_str()));
        self.route_series(ctx.routed)
            .count(ctx.outcome.as_str(), code, text);
        self.log_access(session, ctx, code);
        self.finish_spans(session, ctx, code);
    }
}
