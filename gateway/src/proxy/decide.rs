//! The decision: Cedar asked (and the shadow set beside it, never
//! enforced); an allow yields the identity to forward, anything else a
//! refusal naming the decision.

use crate::data::resolve::Resolved;
use crate::proxy::ctx::Ctx;
use crate::proxy::gateway::{Gateway, current};
use crate::refusal::{DenyReason, Refusal};
use crate::request::routes::AppRoute;
use crate::upstream::identity::Identity;
use pingora::http::RequestHeader;
use std::sync::Arc;
use wrnexus_policies::{Action, Decision, DecisionRequest, Principal};

/// What a decision is about.
pub(super) struct Subject<'a> {
    pub principal: Principal<'a>,
    pub session_id: Option<&'a str>,
    pub workspace_id: &'a str,
    pub resolved: &'a Resolved,
    /// The project decided on (and whether it is archived); `None`: the
    /// workspace.
    pub project: Option<(&'a str, bool)>,
    /// The identity an allow forwards, when already made (a connection's
    /// memory keeps it); otherwise made from the fields above.
    pub known: Option<&'a Arc<Identity>>,
}

impl Gateway {
    /// Ask Cedar; an allow forwards with the identity, anything else refuses.
    pub(super) fn decide(
        &self,
        req: &RequestHeader,
        app: &AppRoute,
        subject: Subject<'_>,
        ctx: &Ctx,
    ) -> Result<Arc<Identity>, Refusal> {
        let path = req.uri.path();
        let method = req.method.as_str();
        // The route table maps method and path to the action.
        let action = app.action_for(method, path);
        let resolved = subject.resolved;
        let request = DecisionRequest {
            principal: subject.principal,
            action: action.as_str(),
            workspace_id: subject.workspace_id,
            project_id: subject.project.map(|(id, _)| id),
            project_archived: subject.project.is_some_and(|(_, archived)| archived),
            granted_projects: resolved.projects.as_deref(),
            role: resolved.role,
            workspace_status: resolved.status,
            email_verified: resolved.email_verified,
            plan: &resolved.plan,
            method,
            path,
        };
        let decision = current(&self.policies).decide(&request);
        self.shadow_decide(&request, &decision, ctx);
        log_decision(&decision, &subject, &action, ctx);
        let Some(role) = resolved.role.filter(|_| decision.allowed) else {
            let reason = match (resolved.role, decision.code.as_deref()) {
                (None, _) => DenyReason::NotAMember,
                (_, Some("workspace_read_only")) => DenyReason::WorkspaceReadOnly,
                (_, Some("api_key_wrong_workspace")) => DenyReason::ApiKeyWrongWorkspace,
                (_, Some("project_not_granted")) => DenyReason::ProjectNotGranted,
                (_, Some("project_archived")) => DenyReason::ProjectArchived,
                (_, Some("email_unverified")) => DenyReason::EmailUnverified,
                (Some(role), _) => DenyReason::Role {
                    role: role.to_string(),
                    action: action.to_string(),
                },
            };
            return Err(Refusal::Denied {
                reason,
                decision_id: decision.id().to_string(),
                errors: !decision.errors.is_empty(),
            });
        };
        // A remembered identity names no project.
        if let Some(known) = subject.known.filter(|_| subject.project.is_none()) {
            return Ok(Arc::clone(known));
        }
        let made = Identity::new(
            subject.principal,
            subject.workspace_id,
            role,
            subject.session_id,
        )
        .and_then(|identity| match subject.project {
            Some((project, _)) => identity.in_project(project),
            None => Ok(identity),
        });
        made.map(Arc::new).map_err(|e| {
            // Ids come from the control plane: a fault, not the client's
            // doing. Fail closed.
            tracing::error!(request_id = %ctx.request_id, reason = %e, "identity not forwardable");
            Refusal::IdentityUnforwardable
        })
    }

    /// Decide with the candidate set too; count and log a difference.
    fn shadow_decide(&self, request: &DecisionRequest<'_>, live: &Decision, ctx: &Ctx) {
        let Some(shadow) = &self.shadow else {
            return;
        };
        let candidate = current(shadow).decide(request);
        if candidate.allowed == live.allowed {
            return;
        }
        let label = |allowed: bool| if allowed { "allow" } else { "deny" };
        self.metrics
            .shadow_differences
            .with_label_values(&[label(live.allowed), label(candidate.allowed)])
            .inc();
        tracing::info!(
            request_id = %ctx.request_id,
            decision_id = %live.id(),
            live = label(live.allowed),
            shadow = label(candidate.allowed),
            live_policies = ?live.policies,
            shadow_policies = ?candidate.policies,
            "shadow policies disagree (not enforced; `wrnexus policy diff LIVE_DIR SHADOW_DIR` \
             lists every kind of difference, proven, with a request for each)"
        );
    }
}

/// Denials (the ones people ask about) are logged at info; an allow on
/// every forwarded request would be an access log, so at debug.
fn log_decision(decision: &Decision, subject: &Subject<'_>, action: &Action, ctx: &Ctx) {
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
}
