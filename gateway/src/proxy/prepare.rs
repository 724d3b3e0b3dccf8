//! Before admission: adopt the request id, refuse ambiguous framing, and
//! put the target in its one canonical form.

use crate::authn::token_cache::unix_seconds;
use crate::ops::spans::RequestSpans;
use crate::proxy::ctx::Ctx;
use crate::proxy::gateway::Gateway;
use crate::refusal::Refusal;
use crate::request::{framing, path};
use crate::upstream::forwarded;
use crate::upstream::trace_context::TraceContext;
use pingora::prelude::Session;
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::SystemTime;

fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// Take the request's id (a trusted proxy's, or a new one) and clock, and
/// refuse a length or credentials two parsers could read differently.
pub(super) fn identify_and_frame(
    gateway: &Gateway,
    session: &Session,
    ctx: &mut Ctx,
) -> Result<(), Refusal> {
    let req = session.req_header();
    // One wall-clock reading serves the request id and every expiry check.
    let wall = SystemTime::now();
    ctx.unix_secs = unix_seconds(wall);
    let generated = wrnexus_policies::ids::new_id_at(wall);
    ctx.client_ip = peer_ip(session);
    ctx.tls = session
        .digest()
        .is_some_and(|digest| digest.ssl_digest.is_some());
    ctx.request_id = forwarded::request_id(
        &req.headers,
        ctx.client_ip,
        &gateway.trusted_proxies,
        generated,
    );
    let mut trace = TraceContext::of_request(&req.headers, ctx.client_ip, &gateway.trusted_proxies);
    if let Some(tracer) = &gateway.tracer {
        let method = req.method.as_str();
        ctx.spans = RequestSpans::start(tracer, &mut trace, ctx.started, wall, method);
    }
    ctx.trace_id = Some(trace.trace_id_hex());
    ctx.trace = Some(trace);
    let raw = || session.as_http1().map(|h1| h1.get_headers_raw_bytes());
    framing::check(&req.headers, raw).map_err(Refusal::Framing)
}

/// An HTTP/2 request names its host in `:authority`, and may also send
/// `Host` (RFC 9113 §8.3.1): routes, rules, the origin check and the app
/// read `Host`, so it is set from `:authority`, and a request whose two
/// say different things (or with several `Host`) is refused.
pub(super) fn authority_as_host(session: &mut Session) -> Result<(), Refusal> {
    let req = session.req_header();
    let conflict = || Refusal::Framing(framing::FramingError::ConflictingHost);
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let (first, more) = (hosts.next(), hosts.next().is_some());
    if more {
        return Err(conflict());
    }
    if !session.is_http2() {
        return Ok(());
    }
    let Some(authority) = req.uri.authority() else {
        return Ok(());
    };
    match first {
        Some(host)
            if host
                .as_bytes()
                .eq_ignore_ascii_case(authority.as_str().as_bytes()) =>
        {
            Ok(())
        }
        Some(_) => Err(conflict()),
        None => {
            let host = authority.as_str().to_string();
            session
                .req_header_mut()
                .insert_header(http::header::HOST, host)
                .map_err(|_| conflict())
        }
    }
}

/// Put the request's target in its canonical form (see [`path`]), so that
/// everything after (routes, rules, the workspace path, Cedar, the control
/// plane and the app) reads one path; refuse a path that has none. The
/// target is rewritten in origin form whenever it was spelled otherwise,
/// so the bytes decided on are the bytes forwarded.
pub(super) fn canonical_target(session: &mut Session) -> Result<(), Refusal> {
    let req = session.req_header();
    if !req.raw_path_is_utf8() {
        return Err(Refusal::AmbiguousPath(
            path::PathError::NotAscii.to_string(),
        ));
    }
    let pq = req.uri.path_and_query();
    let (raw_path, query) = (req.uri.path(), pq.and_then(|pq| pq.query()));
    let canonical = path::canonical(raw_path).map_err(|e| Refusal::AmbiguousPath(e.to_string()))?;
    let origin_form = pq.is_some_and(|pq| pq.as_str().as_bytes() == req.raw_path());
    if matches!(canonical, Cow::Borrowed(_)) && origin_form {
        return Ok(());
    }
    let target = match query {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical.into_owned(),
    };
    let uri = http::Uri::try_from(target)
        .map_err(|e| Refusal::AmbiguousPath(format!("the path cannot be forwarded: {e}")))?;
    session.req_header_mut().set_uri(uri);
    Ok(())
}
