//! Admission by API key: its own workspace only (a request naming another,
//! by header or path, is denied by the policies), at most its ceiling.
//! Every refusal is recorded for the key's audit log.

use crate::authn::api_key::{self, KeyError, KeyGrant, PresentedKey};
use crate::authn::token_cache::unix_now;
use crate::data::remembered::RememberedKey;
use crate::data::resolve::{ProjectAsker, ResolveError, Resolved};
use crate::proxy::ctx::Ctx;
use crate::proxy::decide::Subject;
use crate::proxy::gateway::Gateway;
use crate::proxy::traced;
use crate::refusal::Refusal;
use crate::request::routes::AppRoute;
use crate::request::workspace_path;
use crate::upstream::identity::Identity;
use crate::upstream::names::{X_WORKSPACE_ID, X_WORKSPACE_ID_UNDERSCORED};
use http::header::USER_AGENT;
use opentelemetry::KeyValue;
use pingora::http::RequestHeader;
use std::sync::Arc;
use wrnexus_policies::{Principal, SignIn, SignInMethods};

impl Gateway {
    /// The identity Cedar allows on `app` for the presented key.
    pub(super) async fn admit_key(
        &self,
        req: &RequestHeader,
        app: &AppRoute,
        key: Result<PresentedKey<'_>, KeyError>,
        ctx: &mut Ctx,
    ) -> Result<Arc<Identity>, Refusal> {
        let refused = |e: KeyError, id: Option<&str>, ctx: &Ctx| {
            self.record_refusal(req, ctx, id, e.reason());
            Refusal::ApiKey(e)
        };
        let key = key.map_err(|e| refused(e, None, ctx))?;
        let now = ctx.unix_secs;
        // The very same key as this connection's last key request, nothing
        // changed since: its grant and data as they were (see `remembered`).
        let memory = ctx.remembered_key.clone();
        let reused = memory
            .as_deref()
            .and_then(|m| m.reuse(key.token, &self.resolver, ctx.started, now));
        let fresh: (KeyGrant, Resolved, Option<Arc<Identity>>);
        let (grant, resolved, own_identity) = match reused {
            Some(remembered) => {
                let from = ctx.mark();
                ctx.phase("resolve", from, traced::reused_attributes);
                ctx.phase("credential", from, || {
                    vec![KeyValue::new("wrnexus.credential", "api_key (connection)")]
                });
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
                // Boxed, as a session's resolution is (see `session`).
                let resolving = self.resolver.resolve_key_at(key.id, key.token, ctx.started);
                let resolve_from = ctx.mark();
                let resolution = Box::pin(resolving).await;
                ctx.phase("resolve", resolve_from, || {
                    traced::cache_attributes(matches!(resolution, Ok((_, _, Some(_)))))
                });
                let (entry, workspace, stamp) = match resolution {
                    Ok(found) => found,
                    Err(ResolveError::Revoked) => {
                        return Err(refused(KeyError::Refused, Some(key.id), ctx));
                    }
                    Err(ResolveError::Unavailable(why)) => return Err(self.unavailable(&why, ctx)),
                };
                let credential_from = ctx.mark();
                let checked = api_key::check(&entry, &key, now);
                ctx.phase("credential", credential_from, || {
                    vec![KeyValue::new("wrnexus.credential", "api_key")]
                });
                let grant = checked.map_err(|e| refused(e, Some(key.id), ctx))?;
                let Some((status, plan)) = workspace else {
                    return Err(refused(KeyError::Refused, Some(key.id), ctx));
                };
                self.key_usage.used(key.id, now);
                let resolved = Resolved {
                    role: Some(grant.role_ceiling),
                    status,
                    plan,
                    projects: grant.projects.clone(),
                    // No email stands behind a key, nor a sign-in.
                    email_verified: true,
                    sign_in_methods: SignInMethods::ALL,
                    max_session_age_secs: None,
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
        let header_named = req
            .headers
            .get(X_WORKSPACE_ID)
            .or_else(|| req.headers.get(X_WORKSPACE_ID_UNDERSCORED))
            .and_then(|v| v.to_str().ok());
        let path_named = workspace_path::named(req.uri.path(), &self.workspace_path_prefix)
            .map_err(|e| Refusal::AmbiguousPath(e.to_string()))?;
        let workspace_id = path_named.or(header_named).unwrap_or(&grant.workspace_id);
        let project = self
            .request_project(
                req,
                app,
                workspace_id,
                resolved,
                ProjectAsker::Key { token: key.token },
                ctx,
            )
            .await?;
        let subject = Subject {
            principal: Principal::ApiKey {
                id: key.id,
                workspace_id: &grant.workspace_id,
            },
            session_id: None,
            workspace_id,
            resolved,
            project,
            // Made for the key's own workspace only.
            known: own_identity.filter(|_| workspace_id == grant.workspace_id),
            // No sign-in stands behind a key.
            sign_in: SignIn::API_KEY,
        };
        let decided = self.decide(req, app, subject, ctx);
        if workspace_id != grant.workspace_id && decided.is_err() {
            self.record_refusal(req, ctx, Some(key.id), "wrong_workspace");
        }
        decided
    }

    /// Record a refused API key use (`key_id` is `None` when it was
    /// malformed) for its workspace's audit log.
    fn record_refusal(
        &self,
        req: &RequestHeader,
        ctx: &Ctx,
        key_id: Option<&str>,
        reason: &'static str,
    ) {
        let agent = req.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        self.key_usage.refused(
            key_id,
            reason,
            &ctx.request_id,
            ctx.client_ip,
            agent,
            unix_now(),
        );
    }
}
