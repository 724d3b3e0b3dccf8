//! The life of a request: authenticate → resolve → decide → forward.
//! Nothing reaches the app without an allow.

use crate::api_key;
use crate::authn::{self, AuthnError, Verifier};
use crate::forwarded::{self, TrustedProxies};
use crate::framing;
use crate::headers;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::path;
use crate::problem::{Reply, wants_html};
use crate::resolve::{ResolveError, Resolver};
use crate::routes::{AppRoute, RouteTable};
use crate::sockets::OpenSockets;
use crate::workspace_path;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use wrnexus_policies::assertion::{
    ASSERTION_HEADER, ASSERTION_ISSUER, ASSERTION_TTL_SECS, AssertionClaims, AssertionKey,
};
use wrnexus_policies::{Action, DecisionRequest, EntryKey, PolicyEngine, Principal, Role};

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

/// The verified identity forwarded to the app.
#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Who,
    pub workspace_id: String,
    pub role: Role,
    /// The session behind a person's request.
    pub session_id: Option<String>,
}

impl Identity {
    /// The decision data this identity's access rests on.
    fn depends_on(&self) -> Vec<String> {
        let mut keys = vec![EntryKey::Workspace(self.workspace_id.clone()).cache_key()];
        match &self.principal {
            Who::User(user) => {
                keys.push(EntryKey::membership(&self.workspace_id, user).cache_key());
                keys.push(EntryKey::User(user.clone()).cache_key());
            }
            Who::ApiKey(key) => keys.push(EntryKey::ApiKey(key.clone()).cache_key()),
        }
        if let Some(sid) = &self.session_id {
            keys.push(EntryKey::Session(sid.clone()).cache_key());
        }
        keys
    }
}

/// Who acts: a person, or an API key.
#[derive(Debug, Clone)]
pub enum Who {
    User(String),
    ApiKey(String),
}

/// Per-request state.
#[derive(Debug)]
pub struct Ctx {
    pub request_id: String,
    pub route: Route,
    pub identity: Option<Identity>,
    pub decision: &'static str,
    /// A re-issued session cookie for the client (a deep link switched
    /// the workspace).
    pub set_cookie: Option<String>,
    /// When the upstream was chosen, to time its answer.
    pub upstream_started: Option<Instant>,
    /// Whether `in_flight` counts this request.
    pub counted: bool,
    /// Set when an upgraded connection must close.
    pub cut: Option<Arc<AtomicBool>>,
    /// The app route serving the request, once found.
    pub app: Option<Arc<AppRoute>>,
}

impl Ctx {
    /// The metrics label: the app route's name, or `control_plane`.
    fn route_label(&self) -> &str {
        match (self.route, &self.app) {
            (Route::ControlPlane, _) => "control_plane",
            (Route::App, Some(app)) => app.name(),
            (Route::App, None) => "none",
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
    pub cookie_name: String,
    pub routes: RouteTable,
    pub trusted_proxies: TrustedProxies,
    pub control_plane: (SocketAddr, bool, String),
    /// See [`crate::GatewayConfig::workspace_path_prefix`].
    pub workspace_path_prefix: String,
    pub sockets: Arc<OpenSockets>,
    /// Signs `X-WRNexus-Assertion` when configured, for this audience.
    pub assertion: Option<(AssertionKey, String)>,
}

/// What a decision is about.
struct Subject<'a> {
    principal: Principal<'a>,
    who: Who,
    session_id: Option<String>,
    workspace_id: &'a str,
    resolved: &'a crate::resolve::Resolved,
}

enum Verdict {
    Forward,
    Refuse(Reply),
}

impl Gateway {
    fn policies(&self) -> Arc<PolicyEngine> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Decide whether (and as whom) a request may reach the app.
    async fn admit(&self, req: &RequestHeader, ctx: &mut Ctx) -> Verdict {
        let path = req.uri.path();
        if let Err(e) = path::check(path) {
            ctx.decision = "bad_request";
            return Verdict::Refuse(Reply::problem(
                400,
                "ambiguous_path",
                &e.to_string(),
                None,
                &ctx.request_id,
            ));
        }
        if path.starts_with(CONTROL_PLANE_PREFIX) {
            ctx.route = Route::ControlPlane;
            ctx.decision = "control_plane";
            return Verdict::Forward;
        }
        let host = req.uri.host().or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        });
        let Some(app) = self.routes.find(host, path).cloned() else {
            ctx.decision = "no_route";
            return Verdict::Refuse(Reply::problem(
                404,
                "no_route",
                "no app is served at this address",
                None,
                &ctx.request_id,
            ));
        };
        ctx.app = Some(app.clone());
        if app.is_public() {
            ctx.decision = "public";
            return Verdict::Forward;
        }
        let html = wants_html(&req.headers);
        let path_and_query = req.uri.path_and_query().map_or(path, |pq| pq.as_str());
        let refuse_authn = |e: AuthnError, ctx: &mut Ctx| {
            ctx.decision = "unauthenticated";
            if e == AuthnError::DuplicateCookie {
                return Verdict::Refuse(Reply::problem(
                    400,
                    e.code(),
                    &e.to_string(),
                    None,
                    &ctx.request_id,
                ));
            }
            if html {
                Verdict::Refuse(Reply::to_signin(path_and_query))
            } else {
                Verdict::Refuse(Reply::problem(
                    401,
                    e.code(),
                    &e.to_string(),
                    None,
                    &ctx.request_id,
                ))
            }
        };

        if let Some(key) = api_key::presented(&req.headers) {
            return self.admit_key(req, key, ctx).await;
        }
        let token = match authn::session_token(&req.headers, &self.cookie_name) {
            Ok(t) => t,
            Err(e) => return refuse_authn(e, ctx),
        };
        let claims = match self.verifier.verify(&self.keys, token) {
            Ok(c) => c,
            Err(e) => return refuse_authn(e, ctx),
        };
        // A path may name the workspace; otherwise the cookie does.
        let named = workspace_path::named(path, &self.workspace_path_prefix);
        let workspace_id = named.unwrap_or(&claims.wid);
        let resolved = match self.resolver.resolve(&claims, workspace_id, token).await {
            Ok(r) => r,
            Err(ResolveError::Revoked) => return refuse_authn(AuthnError::Revoked, ctx),
            Err(ResolveError::Unavailable(why)) => return unavailable(&why, ctx),
        };
        if named.is_some_and(|w| w != claims.wid) {
            if resolved.role.is_none() {
                // Whether it exists is not a non-member's business.
                ctx.decision = "deny";
                return Verdict::Refuse(Reply::problem(
                    404,
                    "not_found",
                    "no such workspace",
                    None,
                    &ctx.request_id,
                ));
            }
            // A member following a link into another of their workspaces:
            // switch the session there, in place.
            ctx.set_cookie = self.resolver.switch_cookie(workspace_id, token).await;
        }
        self.decide(
            req,
            Subject {
                principal: Principal::User(&claims.sub),
                who: Who::User(claims.sub.clone()),
                session_id: Some(claims.sid.clone()),
                workspace_id,
                resolved: &resolved,
            },
            ctx,
        )
    }

    /// An API key: its own workspace only (a request naming another, by
    /// header or path, is denied by the policies), at most its ceiling.
    async fn admit_key(
        &self,
        req: &RequestHeader,
        key: Result<api_key::PresentedKey<'_>, api_key::KeyError>,
        ctx: &mut Ctx,
    ) -> Verdict {
        let refused = |e: api_key::KeyError, ctx: &mut Ctx| {
            ctx.decision = "unauthenticated";
            Verdict::Refuse(Reply::problem(
                401,
                "invalid_api_key",
                &e.to_string(),
                None,
                &ctx.request_id,
            ))
        };
        let key = match key {
            Ok(k) => k,
            Err(e) => return refused(e, ctx),
        };
        let (entry, workspace) = match self.resolver.resolve_key(key.id, key.token).await {
            Ok(found) => found,
            Err(ResolveError::Revoked) => return refused(api_key::KeyError::Refused, ctx),
            Err(ResolveError::Unavailable(why)) => return unavailable(&why, ctx),
        };
        let grant = match api_key::check(&entry, &key, unix_now()) {
            Ok(g) => g,
            Err(e) => return refused(e, ctx),
        };
        let Some((status, plan)) = workspace else {
            return refused(api_key::KeyError::Refused, ctx);
        };
        let path = req.uri.path();
        let header_named = req
            .headers
            .get("x-workspace-id")
            .or_else(|| req.headers.get("x_workspace_id"))
            .and_then(|v| v.to_str().ok());
        let workspace_id = workspace_path::named(path, &self.workspace_path_prefix)
            .or(header_named)
            .unwrap_or(&grant.workspace_id);
        let resolved = crate::resolve::Resolved {
            role: Some(grant.role_ceiling),
            status,
            plan,
            projects: None,
        };
        self.decide(
            req,
            Subject {
                principal: Principal::ApiKey {
                    id: key.id,
                    workspace_id: &grant.workspace_id,
                },
                who: Who::ApiKey(key.id.to_string()),
                session_id: None,
                workspace_id,
                resolved: &resolved,
            },
            ctx,
        )
    }

    /// Ask Cedar; allow forwards with the identity, anything else refuses.
    fn decide(&self, req: &RequestHeader, subject: Subject<'_>, ctx: &mut Ctx) -> Verdict {
        let path = req.uri.path();
        let method = req.method.as_str();
        // The route table maps method and path to the action.
        let action = match &ctx.app {
            Some(app) => app.action_for(method, path),
            None => Action::for_method(method),
        };
        let policies = self.policies();
        let resolved = subject.resolved;
        let request = DecisionRequest {
            principal: subject.principal,
            action: action.as_str(),
            workspace_id: subject.workspace_id,
            project_id: None,
            granted_projects: resolved.projects.as_deref(),
            role: resolved.role,
            workspace_status: resolved.status,
            plan: &resolved.plan,
            method,
            path,
        };
        let decision = policies.decide(&request);
        if let Some(shadow) = &self.shadow {
            let shadow = match shadow.read() {
                Ok(p) => p.clone(),
                Err(p) => p.into_inner().clone(),
            };
            let candidate = shadow.decide(&request);
            if candidate.allowed != decision.allowed {
                let label = |allowed: bool| if allowed { "allow" } else { "deny" };
                self.metrics
                    .shadow_differences
                    .with_label_values(&[label(decision.allowed), label(candidate.allowed)])
                    .inc();
                tracing::info!(
                    request_id = %ctx.request_id,
                    decision_id = %decision.id,
                    live = label(decision.allowed),
                    shadow = label(candidate.allowed),
                    live_policies = ?decision.policies,
                    shadow_policies = ?candidate.policies,
                    "shadow policies disagree (not enforced)"
                );
            }
        }
        tracing::info!(
            request_id = %ctx.request_id,
            decision_id = %decision.id,
            allowed = decision.allowed,
            principal = ?subject.who,
            workspace_id = %subject.workspace_id,
            action = %action,
            policies = ?decision.policies,
            errors = ?decision.errors,
            "decision"
        );
        match (decision.allowed, resolved.role) {
            (true, Some(role)) => {
                ctx.decision = "allow";
                ctx.identity = Some(Identity {
                    principal: subject.who,
                    workspace_id: subject.workspace_id.to_string(),
                    role,
                    session_id: subject.session_id,
                });
                Verdict::Forward
            }
            (_, role) => {
                ctx.decision = if decision.errors.is_empty() {
                    "deny"
                } else {
                    "error"
                };
                let (code, detail) = match (role, decision.code.as_deref()) {
                    (None, _) => (
                        "not_a_member",
                        "you are not a member of this workspace".to_string(),
                    ),
                    (_, Some("workspace_read_only")) => (
                        "workspace_read_only",
                        "this workspace is suspended and read-only".to_string(),
                    ),
                    (_, Some("api_key_wrong_workspace")) => (
                        "api_key_wrong_workspace",
                        "an API key acts only in its own workspace".to_string(),
                    ),
                    (Some(role), _) => (
                        "forbidden",
                        format!("your role `{role}` may not `{action}` here"),
                    ),
                };
                Verdict::Refuse(Reply::problem(
                    403,
                    code,
                    &detail,
                    Some(&decision.id),
                    &ctx.request_id,
                ))
            }
        }
    }
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

/// Backend trouble: fail closed with 503.
fn unavailable(why: &str, ctx: &mut Ctx) -> Verdict {
    ctx.decision = "error";
    tracing::warn!(request_id = %ctx.request_id, reason = %why, "failing closed");
    Verdict::Refuse(Reply::problem(
        503,
        "backend_unavailable",
        "authorization data is unavailable; try again shortly",
        None,
        &ctx.request_id,
    ))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
    let generated = std::mem::take(&mut ctx.request_id);
    ctx.request_id = forwarded::request_id(
        &req.headers,
        peer_ip(session),
        &gateway.trusted_proxies,
        generated,
    );
    let raw = session.as_http1().map(|h1| h1.get_headers_raw_bytes());
    let e = framing::check(&req.headers, raw.as_deref()).err()?;
    ctx.decision = "bad_request";
    Some(Reply::problem(
        400,
        e.code(),
        &e.to_string(),
        None,
        &ctx.request_id,
    ))
}

fn peer(target: &(SocketAddr, bool, String)) -> Box<HttpPeer> {
    Box::new(HttpPeer::new(target.0, target.1, target.2.clone()))
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            request_id: uuid::Uuid::new_v4().to_string(),
            route: Route::App,
            identity: None,
            decision: "none",
            set_cookie: None,
            upstream_started: None,
            counted: false,
            cut: None,
            app: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        self.metrics.in_flight.inc();
        ctx.counted = true;
        let started = Instant::now();
        let verdict = match early_refusal(self, session, ctx) {
            Some(reply) => Verdict::Refuse(reply),
            None => self.admit(session.req_header(), ctx).await,
        };
        self.metrics
            .decision_seconds
            .with_label_values(&[ctx.decision])
            .observe(started.elapsed().as_secs_f64());
        match verdict {
            Verdict::Forward => Ok(false),
            Verdict::Refuse(reply) => {
                write_reply(session, reply).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        ctx.upstream_started = Some(Instant::now());
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
        for name in headers::names_to_strip(&upstream.headers) {
            upstream.remove_header(name.as_str());
        }
        let client = &session.req_header().headers;
        for (name, value) in
            forwarded::forwarding_headers(client, peer_ip(session), &self.trusted_proxies)
        {
            upstream.insert_header(name, value)?;
        }
        upstream.insert_header("x-request-id", ctx.request_id.clone())?;
        if ctx.route == Route::App {
            match headers::cookies_without(&upstream.headers, &self.cookie_name) {
                Some(rest) => upstream.insert_header("cookie", rest)?,
                None => {
                    upstream.remove_header("cookie");
                }
            }
            if ctx.app.as_ref().is_some_and(|app| app.is_public()) {
                return Ok(());
            }
            let Some(identity) = &ctx.identity else {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(403),
                    "no allow decision",
                ));
            };
            upstream.insert_header("x-workspace-id", identity.workspace_id.clone())?;
            match &identity.principal {
                Who::User(id) => upstream.insert_header("x-user-id", id.clone())?,
                Who::ApiKey(id) => upstream.insert_header("x-api-key-id", id.clone())?,
            }
            upstream.insert_header("x-workspace-role", identity.role.as_str())?;
            if let Some((key, audience)) = &self.assertion {
                let (sub, kind) = match &identity.principal {
                    Who::User(id) => (id.clone(), "user"),
                    Who::ApiKey(id) => (id.clone(), "api_key"),
                };
                let iat = unix_now();
                let claims = AssertionClaims {
                    iss: ASSERTION_ISSUER.to_string(),
                    aud: audience.clone(),
                    sub,
                    kind: kind.to_string(),
                    wid: identity.workspace_id.clone(),
                    role: identity.role,
                    rid: ctx.request_id.clone(),
                    iat,
                    exp: iat.saturating_add(ASSERTION_TTL_SECS),
                };
                let token = key.sign(&claims).map_err(|e| {
                    Error::explain(
                        ErrorType::InternalError,
                        format!("signing the assertion: {e}"),
                    )
                })?;
                upstream.insert_header(ASSERTION_HEADER, token)?;
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(started) = ctx.upstream_started.take() {
            self.metrics
                .upstream_seconds
                .with_label_values(&[ctx.route_label()])
                .observe(started.elapsed().as_secs_f64());
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

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        if ctx.counted {
            self.metrics.in_flight.dec();
        }
        let status = session
            .response_written()
            .map_or(0, |r| r.status.as_u16())
            .to_string();
        self.metrics
            .requests
            .with_label_values(&[ctx.route_label(), ctx.decision, status.as_str()])
            .inc();
    }
}
