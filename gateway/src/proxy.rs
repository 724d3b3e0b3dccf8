//! The life of a request: authenticate → resolve → decide → forward.
//! Nothing reaches the app without an allow.

use crate::authn::{self, AuthnError, Verifier};
use crate::headers;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::path;
use crate::problem::{Reply, wants_html};
use crate::resolve::{ResolveError, Resolver};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use wrnexus_policies::{Action, DecisionRequest, PolicyEngine, Principal, Role};

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

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::App => "app",
            Route::ControlPlane => "control_plane",
        }
    }
}

/// The verified identity forwarded to the app.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub workspace_id: String,
    pub role: Role,
}

/// Per-request state.
#[derive(Debug)]
pub struct Ctx {
    pub request_id: String,
    pub route: Route,
    pub identity: Option<Identity>,
    pub decision: &'static str,
}

/// Everything the proxy shares across requests.
#[derive(Debug)]
pub struct Gateway {
    pub keys: Arc<KeyRing>,
    pub verifier: Verifier,
    pub resolver: Resolver,
    pub policies: Arc<RwLock<Arc<PolicyEngine>>>,
    pub metrics: Metrics,
    pub cookie_name: String,
    pub upstream: (SocketAddr, bool, String),
    pub control_plane: (SocketAddr, bool, String),
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

        let token = match authn::session_token(&req.headers, &self.cookie_name) {
            Ok(t) => t,
            Err(e) => return refuse_authn(e, ctx),
        };
        let claims = match self.verifier.verify(&self.keys, token) {
            Ok(c) => c,
            Err(e) => return refuse_authn(e, ctx),
        };
        let resolved = match self.resolver.resolve(&claims, token).await {
            Ok(r) => r,
            Err(ResolveError::Revoked) => return refuse_authn(AuthnError::Revoked, ctx),
            Err(ResolveError::Unavailable(why)) => {
                ctx.decision = "error";
                tracing::warn!(request_id = %ctx.request_id, reason = %why, "failing closed");
                return Verdict::Refuse(Reply::problem(
                    503,
                    "backend_unavailable",
                    "authorization data is unavailable; try again shortly",
                    None,
                    &ctx.request_id,
                ));
            }
        };

        let method = req.method.as_str();
        let action = Action::for_method(method);
        let policies = self.policies();
        let decision = policies.decide(&DecisionRequest {
            principal: Principal::User(&claims.sub),
            action: action.as_str(),
            workspace_id: &claims.wid,
            project_id: None,
            granted_projects: resolved.projects.as_deref(),
            role: resolved.role,
            workspace_status: resolved.status,
            plan: &resolved.plan,
            method,
            path,
        });
        tracing::info!(
            request_id = %ctx.request_id,
            decision_id = %decision.id,
            allowed = decision.allowed,
            user_id = %claims.sub,
            workspace_id = %claims.wid,
            action = %action,
            policies = ?decision.policies,
            errors = ?decision.errors,
            "decision"
        );
        match (decision.allowed, resolved.role) {
            (true, Some(role)) => {
                ctx.decision = "allow";
                ctx.identity = Some(Identity {
                    user_id: claims.sub.clone(),
                    workspace_id: claims.wid.clone(),
                    role,
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
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let started = Instant::now();
        let verdict = self.admit(session.req_header(), ctx).await;
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
        match (ctx.route, &ctx.identity) {
            (Route::ControlPlane, _) => Ok(peer(&self.control_plane)),
            (Route::App, Some(_)) => Ok(peer(&self.upstream)),
            // Unreachable by construction; refuse rather than forward.
            (Route::App, None) => Err(Error::explain(
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
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        if let Some(ip) = client_ip {
            upstream.insert_header("x-forwarded-for", ip)?;
        }
        upstream.insert_header("x-forwarded-proto", "http")?;
        if let Some(host) = session.req_header().headers.get("host").cloned() {
            upstream.insert_header("x-forwarded-host", host)?;
        }
        upstream.insert_header("x-request-id", ctx.request_id.clone())?;
        if ctx.route == Route::App {
            let Some(identity) = &ctx.identity else {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(403),
                    "no allow decision",
                ));
            };
            match headers::cookies_without(&upstream.headers, &self.cookie_name) {
                Some(rest) => upstream.insert_header("cookie", rest)?,
                None => {
                    upstream.remove_header("cookie");
                }
            }
            upstream.insert_header("x-workspace-id", identity.workspace_id.clone())?;
            upstream.insert_header("x-user-id", identity.user_id.clone())?;
            upstream.insert_header("x-workspace-role", identity.role.as_str())?;
        }
        Ok(())
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let status = session
            .response_written()
            .map_or(0, |r| r.status.as_u16())
            .to_string();
        self.metrics
            .requests
            .with_label_values(&[ctx.route.label(), ctx.decision, status.as_str()])
            .inc();
    }
}
