//! Admission by session cookie: the cookie's token verified (or this
//! connection's last one reused), the workspace it or the path names
//! resolved, same-origin writes only, then Cedar.

use crate::authn::session::{self, AuthnError};
use crate::data::remembered::Remembered;
use crate::data::resolve::{ProjectAsker, ResolveError, Resolved, Unavailable};
use crate::proxy::ctx::Ctx;
use crate::proxy::decide::Subject;
use crate::proxy::gateway::Gateway;
use crate::proxy::traced;
use crate::refusal::{Refusal, wants_html};
use crate::request::routes::AppRoute;
use crate::request::{csrf, workspace_path};
use crate::upstream::identity::Identity;
use opentelemetry::KeyValue;
use pingora::http::RequestHeader;
use std::sync::Arc;
use wrnexus_policies::{Principal, SessionClaims, SignIn};

/// No valid session: a browser asking for a page is sent to sign in (and
/// back here afterwards); anything else gets the problem.
fn authn_refusal(e: AuthnError, req: &RequestHeader) -> Refusal {
    if e != AuthnError::DuplicateCookie && wants_html(&req.headers) {
        let path = req.uri.path();
        let return_to = req.uri.path_and_query().map_or(path, |pq| pq.as_str());
        Refusal::SignIn {
            return_to: return_to.to_string(),
        }
    } else {
        Refusal::Authn(e)
    }
}

impl Gateway {
    /// The identity Cedar allows on `app`, and a re-issued cookie when a
    /// workspace link switched the session.
    pub(super) async fn admit_session(
        &self,
        req: &RequestHeader,
        app: &AppRoute,
        ctx: &mut Ctx,
    ) -> Result<(Arc<Identity>, Option<String>), Refusal> {
        let refuse = |e: AuthnError| authn_refusal(e, req);
        let credential_from = ctx.mark();
        let (token, alone) =
            session::session_cookie(&req.headers, &self.cookie_name).map_err(refuse)?;
        ctx.session_cookie_alone = alone;
        if !token.is_empty() {
            ctx.access.credential = crate::ops::access_notes::Credential::Session;
        }
        // The cookie authenticates: a write must come from this origin.
        if let Some(why) = csrf::cross_origin(
            &req.method,
            &req.headers,
            ctx.client_ip,
            ctx.tls,
            &self.trusted_proxies,
        ) {
            return Err(Refusal::CrossOrigin(why));
        }
        // A path may name the workspace; otherwise the cookie does.
        let path = req.uri.path();
        let named = workspace_path::named(path, &self.workspace_path_prefix)
            .map_err(|e| Refusal::AmbiguousPath(e.to_string()))?;
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
            Some(remembered) => {
                let credential =
                    || vec![KeyValue::new("wrnexus.credential", "session (connection)")];
                ctx.phase("credential", credential_from, credential);
                ctx.phase("resolve", credential_from, traced::reused_attributes);
                (
                    remembered.token(),
                    remembered.claims(),
                    remembered.resolved(),
                    remembered.identity(),
                )
            }
            None => {
                let token = session::token_text(token).map_err(refuse)?;
                let generation = self.keys.generation();
                let claims = self
                    .verifier
                    .verify_at(&self.keys, token, ctx.unix_secs)
                    .map_err(refuse);
                ctx.phase("credential", credential_from, || {
                    vec![KeyValue::new("wrnexus.credential", "session")]
                });
                let claims = claims?;
                let workspace_id = named.unwrap_or(&claims.wid);
                // Boxed: a resolution that may fetch is a large future, and
                // left inline it would size (and allocate) every request's.
                let resolving = self
                    .resolver
                    .resolve_at(&claims, workspace_id, token, ctx.started);
                let resolve_from = ctx.mark();
                let resolution = Box::pin(resolving).await;
                ctx.phase("resolve", resolve_from, || {
                    traced::cache_attributes(matches!(resolution, Ok((_, Some(_)))))
                });
                let (resolved, stamp) = match resolution {
                    Ok(r) => r,
                    Err(ResolveError::Revoked) => return Err(refuse(AuthnError::Revoked)),
                    Err(ResolveError::Unavailable(why)) => return Err(self.unavailable(&why, ctx)),
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
        let mut set_cookie = None;
        if named.is_some_and(|w| w != claims.wid) {
            if resolved.role.is_none() {
                // Whether it exists is not a non-member's business.
                return Err(Refusal::NoSuchWorkspace);
            }
            // A member following a link into another of their workspaces:
            // switch the session there, in place.
            set_cookie = self.resolver.switch_cookie(workspace_id, token).await;
        }
        let project = self
            .request_project(
                req,
                app,
                workspace_id,
                resolved,
                ProjectAsker::Session {
                    workspace_id,
                    token,
                },
                ctx,
            )
            .await?;
        // The deployment lets only verified people use apps.
        if self.require_verified_email && !resolved.email_verified {
            return Err(Refusal::EmailUnverified {
                browser: wants_html(&req.headers),
            });
        }
        // When the device was last seen, for the user's list of sessions.
        self.key_usage.session_seen(&claims.sid, ctx.unix_secs);
        let subject = Subject {
            principal: Principal::User(&claims.sub),
            session_id: Some(&claims.sid),
            workspace_id,
            resolved,
            project,
            known,
            sign_in: SignIn::session(
                claims,
                workspace_id,
                resolved.sign_in_methods,
                resolved.max_session_age_secs,
                ctx.unix_secs,
            ),
        };
        let identity = self.decide(req, app, subject, ctx)?;
        Ok((identity, set_cookie))
    }
}

impl Gateway {
    /// Backend trouble: fail closed with 503, counted by cause.
    pub(super) fn unavailable(&self, why: &Unavailable, ctx: &Ctx) -> Refusal {
        tracing::warn!(request_id = %ctx.request_id, reason = %why, "failing closed");
        self.metrics.count_fail_closed(why.cause);
        Refusal::BackendUnavailable
    }
}
