//! The life of a request: authenticate → resolve → decide → forward.
//! Nothing reaches the app without an allow.

use crate::admit::{self, Verdict};
use crate::authn::Verifier;
use crate::forwarded::{self, TrustedProxies};
use crate::framing;
use crate::headers;
use crate::identity::Identity;
use crate::key_usage::KeyUsage;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::path;
use crate::problem::Reply;
use crate::remembered::{ConnectionMemory, Remembered, RememberedKey};
use crate::request_metrics::{RequestSeries, RouteSeries};
use crate::resolve::Resolver;
use crate::routes::{AppRoute, RouteTable};
use crate::sockets::OpenSockets;
use crate::upstream_request::{self, Forward};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use std::any::Any;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};
use wrnexus_policies::PolicyEngine;
use wrnexus_policies::assertion::AssertionKey;

/// Paths under this prefix belong to the control plane.
pub const CONTROL_PLANE_PREFIX: &str = "/.wrnexus/";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The app behind the gateway: needs an allow.
    App,
    /// Sign-in, switch, API: the control plane authenticates on its own.
    ControlPlane,
}

/// Per-request state.
#[derive(Debug)]
pub struct Ctx {
    pub request_id: String,
    pub route: Route,
    pub identity: Option<Arc<Identity>>,
    pub decision: &'static str,
    /// A re-issued session cookie for the client (a deep link switched
    /// the workspace).
    pub set_cookie: Option<String>,
    /// When the request was let through to an upstream, to time its answer.
    pub upstream_started: Option<Instant>,
    /// Whether `in_flight` counts this request.
    pub counted: bool,
    /// Set when an upgraded connection must close.
    pub cut: Option<Arc<AtomicBool>>,
    /// The app route serving the request, once found.
    pub app: Option<Arc<AppRoute>>,
    /// The peer's address.
    pub client_ip: Option<IpAddr>,
    /// When the request arrived (its header read; monotonic, for timings
    /// and the age of cached data)…
    pub started: Instant,
    /// …and in Unix seconds (for expiries).
    pub unix_secs: i64,
    /// What this connection's last session request resolved…
    pub remembered: Option<Arc<Remembered>>,
    /// …and its last API key request.
    pub remembered_key: Option<Arc<RememberedKey>>,
    /// The session cookie was the request's only cookie.
    pub session_cookie_alone: bool,
}

impl Gateway {
    /// The series of the request's route (labelled by the app route's name,
    /// `control_plane`, or `none`).
    fn route_series(&self, ctx: &Ctx) -> &RouteSeries {
        match (ctx.route, &ctx.app) {
            (Route::ControlPlane, _) => self.series.control_plane(),
            (Route::App, Some(app)) => self.series.app(app.index()),
            (Route::App, None) => self.series.unrouted(),
        }
    }
}

/// Everything the proxy shares across requests.
#[derive(Debug)]
pub struct Gateway {
    pub keys: Arc<KeyRing>,
    pub verifier: Verifier,
    pub resolver: Resolver,
    pub policies: Arc<RwLock<Arc<PolicyEngine>>>,
    /// A candidate set decided beside the live one, never enforced.
    pub shadow: Option<Arc<RwLock<Arc<PolicyEngine>>>>,
    pub metrics: Metrics,
    /// The series each request touches, looked up once.
    pub series: RequestSeries,
    pub cookie_name: String,
    pub routes: RouteTable,
    pub trusted_proxies: TrustedProxies,
    pub control_plane: (SocketAddr, bool, String),
    /// See [`crate::GatewayConfig::workspace_path_prefix`].
    pub workspace_path_prefix: String,
    pub sockets: Arc<OpenSockets>,
    /// Signs `X-WRNexus-Assertion` when configured, for this audience.
    pub assertion: Option<(AssertionKey, String)>,
    /// API key use, reported in the background.
    pub key_usage: Arc<KeyUsage>,
}

/// End an upgraded connection whose access was taken away.
fn cut_if_revoked(ctx: &Ctx) -> Result<()> {
    match &ctx.cut {
        Some(flag) if flag.load(Ordering::Relaxed) => Err(Error::explain(
            ErrorType::HTTPStatus(403),
            "access changed: upgraded connection closed",
        )),
        _ => Ok(()),
    }
}

async fn write_reply(session: &mut Session, reply: Reply) -> Result<()> {
    let mut header = ResponseHeader::build(reply.status, Some(reply.headers.len() + 1))?;
    for (name, value) in reply.headers {
        header.insert_header(name, value)?;
    }
    header.insert_header("content-length", reply.body.len().to_string())?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(reply.body), true).await
}

fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// Before anything else: adopt the request id, refuse ambiguous framing.
fn early_refusal(gateway: &Gateway, session: &Session, ctx: &mut Ctx) -> Option<Reply> {
    let req = session.req_header();
    // One wall-clock reading serves the request id and every expiry check.
    let wall = SystemTime::now();
    ctx.unix_secs = crate::token_cache::unix_seconds(wall);
    let generated = wrnexus_policies::ids::new_id_at(wall);
    ctx.client_ip = peer_ip(session);
    ctx.request_id = forwarded::request_id(
        &req.headers,
        ctx.client_ip,
        &gateway.trusted_proxies,
        generated,
    );
    let raw = || session.as_http1().map(|h1| h1.get_headers_raw_bytes());
    let e = framing::check(&req.headers, raw).err()?;
    ctx.decision = "bad_request";
    Some(Reply::problem(
        400,
        e.code(),
        &e.to_string(),
        None,
        &ctx.request_id,
    ))
}

/// Put the request's target in its canonical form (see [`crate::path`]),
/// so that everything after (routes, rules, the workspace path, Cedar, the
/// control plane and the app) reads one path; refuse a path that has none.
/// The target is rewritten in origin form whenever it was spelled
/// otherwise, so the bytes decided on are the bytes forwarded.
fn canonical_target(session: &mut Session, ctx: &mut Ctx) -> Option<Reply> {
    let req = session.req_header();
    let refuse = |why: &str, ctx: &mut Ctx| Some(admit::ambiguous(why, ctx));
    if !req.raw_path_is_utf8() {
        return refuse(&path::PathError::NotAscii.to_string(), ctx);
    }
    let pq = req.uri.path_and_query();
    let (raw_path, query) = (req.uri.path(), pq.and_then(|pq| pq.query()));
    let canonical = match path::canonical(raw_path) {
        Ok(c) => c,
        Err(e) => return refuse(&e.to_string(), ctx),
    };
    let origin_form = pq.is_some_and(|pq| pq.as_str().as_bytes() == req.raw_path());
    if matches!(canonical, Cow::Borrowed(_)) && origin_form {
        return None;
    }
    let target = match query {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical.into_owned(),
    };
    match http::Uri::try_from(target) {
        Ok(uri) => {
            session.req_header_mut().set_uri(uri);
            None
        }
        Err(e) => refuse(&format!("the path cannot be forwarded: {e}"), ctx),
    }
}

/// Remove an upstream's `Set-Cookie` for the session cookie.
fn drop_session_cookie(upstream: &mut ResponseHeader, cookie_name: &str) -> Result<()> {
    let set = upstream.headers.get_all(http::header::SET_COOKIE);
    if !set.iter().any(|v| headers::sets_cookie(v, cookie_name)) {
        return Ok(());
    }
    let kept: Vec<http::HeaderValue> = set
        .iter()
        .filter(|v| !headers::sets_cookie(v, cookie_name))
        .cloned()
        .collect();
    upstream.remove_header(&http::header::SET_COOKIE);
    for value in kept {
        upstream.append_header(http::header::SET_COOKIE, value)?;
    }
    Ok(())
}

fn peer(target: &(SocketAddr, bool, String)) -> Box<HttpPeer> {
    Box::new(HttpPeer::new(target.0, target.1, target.2.clone()))
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            request_id: String::new(),
            started: Instant::now(),
            unix_secs: 0,
            remembered: None,
            remembered_key: None,
            session_cookie_alone: false,
            route: Route::App,
            identity: None,
            decision: "none",
            set_cookie: None,
            upstream_started: None,
            counted: false,
            cut: None,
            app: None,
            client_ip: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        self.metrics.in_flight.inc();
        ctx.counted = true;
        let refusal = early_refusal(self, session, ctx).or_else(|| canonical_target(session, ctx));
        let verdict = match refusal {
            Some(reply) => Verdict::Refuse(reply),
            None => self.admit(session.req_header(), ctx).await,
        };
        let decided = Instant::now();
        self.series.decision_seconds.observe(
            ctx.decision,
            decided.duration_since(ctx.started).as_secs_f64(),
        );
        match verdict {
            Verdict::Forward => {
                // The upstream is chosen next: its time starts here.
                ctx.upstream_started = Some(decided);
                Ok(false)
            }
            Verdict::Refuse(reply) => {
                write_reply(session, reply).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        ctx.upstream_started.get_or_insert_with(Instant::now);
        match (ctx.route, &ctx.identity, &ctx.app) {
            (Route::ControlPlane, _, _) => Ok(peer(&self.control_plane)),
            (Route::App, Some(_), Some(app)) => Ok(Box::new(app.peer())),
            (Route::App, None, Some(app)) if app.is_public() => Ok(Box::new(app.peer())),
            // Unreachable by construction; refuse rather than forward.
            (Route::App, _, _) => Err(Error::explain(
                ErrorType::HTTPStatus(403),
                "no allow decision",
            )),
        }
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let app = ctx.route == Route::App;
        let public = ctx.app.as_ref().is_some_and(|app| app.is_public());
        let identity = match ctx.identity.as_ref() {
            _ if !app || public => None,
            Some(identity) => Some(&**identity),
            None => {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(403),
                    "no allow decision",
                ));
            }
        };
        let forward = Forward {
            request_id: &ctx.request_id,
            client_ip: ctx.client_ip,
            trusted_proxies: &self.trusted_proxies,
            session_cookie: app.then_some(self.cookie_name.as_str()),
            session_cookie_alone: ctx.session_cookie_alone,
            identity,
            assertion: self.assertion.as_ref(),
        };
        upstream_request::rewrite(upstream, &session.req_header().headers, &forward)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(started) = ctx.upstream_started.take() {
            self.route_series(ctx)
                .observe_upstream(started.elapsed().as_secs_f64());
        }
        // An app cannot set (fix) the session: its `Set-Cookie` for the
        // session cookie is dropped, its other cookies kept.
        if ctx.route == Route::App {
            drop_session_cookie(upstream, &self.cookie_name)?;
        }
        if let Some(cookie) = ctx.set_cookie.take() {
            upstream.append_header("set-cookie", cookie)?;
        }
        // An upgraded connection lives on: watch what its access rests on.
        if upstream.status.as_u16() == 101
            && let Some(identity) = &ctx.identity
        {
            ctx.cut = Some(self.sockets.register(&identity.depends_on()));
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        cut_if_revoked(ctx)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        cut_if_revoked(ctx).map(|()| None)
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &Ctx,
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
        ctx: &mut Ctx,
        previous: Box<dyn Any + Send + Sync>,
    ) {
        if let Ok(memory) = previous.downcast::<ConnectionMemory>() {
            let ConnectionMemory { session, key } = *memory;
            ctx.remembered = session;
            ctx.remembered_key = key;
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        if ctx.counted {
            self.metrics.in_flight.dec();
        }
        let (code, text) = session
            .response_written()
            .map_or((0, "0"), |r| (r.status.as_u16(), r.status.as_str()));
        self.route_series(ctx).count(ctx.decision, code, text);
    }
}
