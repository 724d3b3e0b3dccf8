//! Admission: authenticate (session cookie or API key) → resolve the
//! decision data → decide with Cedar (and the shadow set). The verdict says
//! whether, and as whom, a request may pass; nothing else lets one through.

use crate::api_key;
use crate::authn::{self, AuthnError};
use crate::csrf;
use crate::identity::Identity;
use crate::path;
use crate::problem::{Reply, wants_html};
use crate::proxy::{CONTROL_PLANE_PREFIX, Ctx, Gateway, Route};
use crate::remembered::{Remembered, RememberedKey};
use crate::resolve::{ResolveError, Resolved};
use crate::upstream_request::X_WORKSPACE_ID;
use crate::workspace_path;
use pingora::http::RequestHeader;
use std::sync::Arc;
use wrnexus_policies::{Action, DecisionRequest, PolicyEngine, Principal, SessionClaims};

/// `X-Workspace-Id` as some clients spell it.
const X_WORKSPACE_ID_UNDERSCORED: http::HeaderName =
    http::HeaderName::from_static("x_workspace_id");

/// What a decision is about.
struct Subject<'a> {
    principal: Principal<'a>,
    session_id: Option<&'a str>,
    workspace_id: &'a str,
    resolved: &'a Resolved,
    /// The identity an allow forwards, when already made (a connection's
    /// memory keeps it); otherwise made from the fields above.
    known: Option<&'a Arc<Identity>>,
}

/// Whether a request may pass.
pub(crate) enum Verdict {
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
    pub(crate) async fn admit(&self, req: &RequestHeader, ctx: &mut Ctx) -> Verdict {
        // Canonical already (see `proxy::canonical_target`).
        let path = req.uri.path();
        if path::under(path, CONTROL_PLANE_PREFIX) {
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
            if wants_html(&req.headers) {
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
        let token = match authn::session_cookie(&req.headers, &self.cookie_name) {
            Ok((token, alone)) => {
                ctx.session_cookie_alone = alone;
                token
            }
            Err(e) => return refuse_authn(e, ctx),
        };
        // The cookie authenticates: a write must come from this origin.
        let (method, peer, id) = (&req.method, ctx.client_ip, &ctx.request_id);
        if let Some(reply) = csrf::refuse(method, &req.headers, peer, &self.trusted_proxies, id) {
            ctx.decision = "deny";
            return Verdict::Refuse(reply);
        }
        // A path may name the workspace; otherwise the cookie does.
        let named = match workspace_path::named(path, &self.workspace_path_prefix) {
            Ok(named) => named,
            Err(e) => return Verdict::Refuse(ambiguous(&e.to_string(), ctx)),
        };
        // The same token as this connection's last request, nothing changed
        // since: its claims and data as they were (see `remembered`). With
        // the token cache off, nothing is remembered this way either.
        let memory = ctx.remembered.clone();
        let reused = memory.as_deref().and_then(|m| {
            m.reuse(
                token,
                named,
                &self.keys,
                &self.resolver,
                ctx.started,
                ctx.unix_secs,
            )
        });
        let fresh: (Arc<SessionClaims>, Resolved, Option<Arc<Identity>>);
        // The token as text: the remembered one (the same bytes), or read
        // once here.
        let (token, claims, resolved, known) = match reused {
            Some(remembered) => (
                remembered.token(),
                remembered.claims(),
                remembered.resolved(),
                remembered.identity(),
            ),
            None => {
                let token = match authn::token_text(token) {
                    Ok(t) => t,
                    Err(e) => return refuse_authn(e, ctx),
                };
                let generation = self.keys.generation();
                let claims = match self.verifier.verify_at(&self.keys, token, ctx.unix_secs) {
                    Ok(c) => c,
                    Err(e) => return refuse_authn(e, ctx),
                };
                let workspace_id = named.unwrap_or(&claims.wid);
                // Boxed: a resolution that may fetch is a large future, and
                // left inline it would size (and allocate) every request's.
                let resolving = self
                    .resolver
                    .resolve_at(&claims, workspace_id, token, ctx.started);
                let (resolved, stamp) = match Box::pin(resolving).await {
                    Ok(r) => r,
                    Err(ResolveError::Revoked) => {
                        return refuse_authn(AuthnError::Revoked, ctx);
                    }
                    Err(ResolveError::Unavailable(why)) => return unavailable(&why, ctx),
                };
                let mut identity = None;
                if let Some(stamp) = stamp
                    && workspace_id == claims.wid
                    && self.verifier.remembers()
                {
                    let memory =
                        Remembered::new(token, claims.clone(), generation, resolved.clone(), stamp);
                    identity = memory.identity().cloned();
                    ctx.remembered = Some(Arc::new(memory));
                }
                fresh = (claims, resolved, identity);
                (token, &fresh.0, &fresh.1, fresh.2.as_ref())
            }
        };
        let workspace_id = named.unwrap_or(&claims.wid);
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
                session_id: Some(&claims.sid),
                workspace_id,
                resolved,
                known,
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
        let refused = |e: api_key::KeyError, id: Option<&str>, ctx: &mut Ctx| {
            self.key_refused(req, ctx, id, e);
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
            Err(e) => return refused(e, None, ctx),
        };
        let now = ctx.unix_secs;
        // The very same key as this connection's last key request, nothing
        // changed since: its grant and data as they were (see `remembered`).
        let memory = ctx.remembered_key.clone();
        let reused = memory
            .as_deref()
            .and_then(|m| m.reuse(key.token, &self.resolver, ctx.started, now));
        let fresh: (api_key::KeyGrant, Resolved, Option<Arc<Identity>>);
        let (grant, resolved, own_identity) = match reused {
            Some(remembered) => {
                if remembered.first_use_in(now) {
                    self.key_usage.used(key.id, now);
                }
                (
                    remembered.grant(),
                    remembered.resolved(),
                    remembered.identity(),
                )
            }
            None => {
                // Boxed, as a session's resolution is (see `admit`).
                let resolving = self.resolver.resolve_key_at(key.id, key.token, ctx.started);
                let (entry, workspace, stamp) = match Box::pin(resolving).await {
                    Ok(found) => found,
                    Err(ResolveError::Revoked) => {
                        return refused(api_key::KeyError::Refused, Some(key.id), ctx);
                    }
                    Err(ResolveError::Unavailable(why)) => return unavailable(&why, ctx),
                };
                let grant = match api_key::check(&entry, &key, now) {
                    Ok(g) => g,
                    Err(e) => return refused(e, Some(key.id), ctx),
                };
                let Some((status, plan)) = workspace else {
                    return refused(api_key::KeyError::Refused, Some(key.id), ctx);
                };
                self.key_usage.used(key.id, now);
                let resolved = Resolved {
                    role: Some(grant.role_ceiling),
                    status,
                    plan,
                    projects: None,
                };
                let mut identity = None;
                if let Some(stamp) = stamp
                    && self.verifier.remembers()
                {
                    let memory = RememberedKey::new(
                        key.token,
                        key.id,
                        grant.clone(),
                        resolved.clone(),
                        stamp,
                        now,
                    );
                    identity = memory.identity().cloned();
                    ctx.remembered_key = Some(Arc::new(memory));
                }
                fresh = (grant, resolved, identity);
                (&fresh.0, &fresh.1, fresh.2.as_ref())
            }
        };
        let path = req.uri.path();
        let header_named = req
            .headers
            .get(X_WORKSPACE_ID)
            .or_else(|| req.headers.get(X_WORKSPACE_ID_UNDERSCORED))
            .and_then(|v| v.to_str().ok());
        let path_named = match workspace_path::named(path, &self.workspace_path_prefix) {
            Ok(named) => named,
            Err(e) => return Verdict::Refuse(ambiguous(&e.to_string(), ctx)),
        };
        let workspace_id = path_named.or(header_named).unwrap_or(&grant.workspace_id);
        let verdict = self.decide(
            req,
            Subject {
                principal: Principal::ApiKey {
                    id: key.id,
                    workspace_id: &grant.workspace_id,
                },
                session_id: None,
                workspace_id,
                resolved,
                // Made for the key's own workspace only.
                known: own_identity.filter(|_| workspace_id == grant.workspace_id),
            },
            ctx,
        );
        if workspace_id != grant.workspace_id && matches!(verdict, Verdict::Refuse(_)) {
            self.key_outside_workspace(req, ctx, key.id);
        }
        verdict
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
                    decision_id = %decision.id(),
                    live = label(decision.allowed),
                    shadow = label(candidate.allowed),
                    live_policies = ?decision.policies,
                    shadow_policies = ?candidate.policies,
                    "shadow policies disagree (not enforced)"
                );
            }
        }
        // Denials (the ones people ask about) are logged at info; an allow
        // on every forwarded request would be an access log, so at debug.
        if decision.allowed {
            tracing::debug!(
                request_id = %ctx.request_id,
                decision_id = %decision.id(),
                principal = ?subject.principal,
                workspace_id = %subject.workspace_id,
                action = %action,
                policies = ?decision.policies,
                "decision: allow"
            );
        } else {
            tracing::info!(
                request_id = %ctx.request_id,
                decision_id = %decision.id(),
                principal = ?subject.principal,
                workspace_id = %subject.workspace_id,
                action = %action,
                policies = ?decision.policies,
                errors = ?decision.errors,
                "decision: deny"
            );
        }
        match (decision.allowed, resolved.role) {
            (true, Some(role)) => {
                let identity = match subject.known {
                    Some(known) => Arc::clone(known),
                    None => match Identity::new(
                        subject.principal,
                        subject.workspace_id,
                        role,
                        subject.session_id,
                    ) {
                        Ok(made) => Arc::new(made),
                        Err(e) => return unforwardable(&e.to_string(), ctx),
                    },
                };
                ctx.decision = "allow";
                ctx.identity = Some(identity);
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
                    Some(decision.id()),
                    &ctx.request_id,
                ))
            }
        }
    }
}

/// A path the gateway will not decide on, for an app could read it otherwise.
pub(crate) fn ambiguous(why: &str, ctx: &mut Ctx) -> Reply {
    ctx.decision = "bad_request";
    Reply::problem(400, "ambiguous_path", why, None, &ctx.request_id)
}

/// An allowed identity that cannot be written as headers (ids come from the
/// control plane, so this is a fault, not a client's doing): fail closed.
fn unforwardable(why: &str, ctx: &mut Ctx) -> Verdict {
    tracing::error!(request_id = %ctx.request_id, reason = %why, "identity not forwardable");
    let detail = "the verified identity cannot be forwarded; nothing was sent to the app";
    fail_closed(ctx, 500, "identity_unforwardable", detail)
}

/// Backend trouble: fail closed with 503.
fn unavailable(why: &str, ctx: &mut Ctx) -> Verdict {
    tracing::warn!(request_id = %ctx.request_id, reason = %why, "failing closed");
    let detail = "authorization data is unavailable; try again shortly";
    fail_closed(ctx, 503, "backend_unavailable", detail)
}

/// Refuse as a fault of the gateway's own (decision `error`).
fn fail_closed(ctx: &mut Ctx, status: u16, code: &str, detail: &str) -> Verdict {
    ctx.decision = "error";
    Verdict::Refuse(Reply::problem(status, code, detail, None, &ctx.request_id))
}
