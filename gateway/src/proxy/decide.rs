//! The decision: Cedar asked (and the shadow set beside it, never
//! enforced); an allow yields the identity to forward, anything else a
//! refusal naming the decision.

use crate::data::resolve::Resolved;
use crate::proxy::ctx::Ctx;
use crate::proxy::gateway::{Gateway, current};
use crate::refusal::sign_in::{signin_url, sso_start_url};
use crate::refusal::{DenyReason, Refusal, wants_html};
use crate::request::routes::AppRoute;
use crate::upstream::identity::Identity;
use opentelemetry::KeyValue;
use pingora::http::RequestHeader;
use std::sync::Arc;
use wrnexus_policies::{Action, Decision, DecisionRequest, Principal, SignIn};

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
    /// How the credential was signed in, under the workspace's sign-in
    /// policy (made afresh on every request, remembered connection or not:
    /// the session ages).
    pub sign_in: SignIn<'a>,
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
            sign_in: subject.sign_in,
        };
        let from = ctx.mark();
        let decision = current(&self.policies).decide(&request);
        ctx.phase("decide", from, || decide_attributes(&decision, &action));
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
                (_, Some(code @ ("sso_required" | "session_too_old"))) => {
                    sign_in_again(code, req, &subject)
                }
                (_, Some("sign_in_method_not_allowed")) => DenyReason::SignInMethodNotAllowed,
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

/// A refusal of the sign-in policy a new sign-in cures (`code`:
/// `sso_required` or `session_too_old`), with the link that signs in as
/// the workspace asks and comes back to this request: through its own IdP
/// when it requires it, or when that IdP signed this session in; otherwise
/// the sign-in page.
fn sign_in_again(code: &str, req: &RequestHeader, subject: &Subject<'_>) -> DenyReason {
    let return_to = req
        .uri
        .path_and_query()
        .map_or_else(|| req.uri.path(), |pq| pq.as_str());
    let workspace_id = subject.workspace_id;
    let through_idp = code == "sso_required"
        || subject.resolved.sign_in_methods.requires_sso()
        || subject.sign_in.through_idp_of(workspace_id);
    let sign_in_url = if through_idp {
        sso_start_url(workspace_id, return_to)
    } else {
        signin_url(return_to)
    };
    let browser = wants_html(&req.headers);
    if code == "sso_required" {
        DenyReason::SsoRequired {
            sign_in_url,
            browser,
        }
    } else {
        DenyReason::ReauthenticationRequired {
            sign_in_url,
            browser,
        }
    }
}

/// The decide phase's attributes: the decision, its id, the policies that
/// determined it, and the action.
fn decide_attributes(decision: &Decision, action: &Action) -> Vec<KeyValue> {
    let verdict = if decision.allowed { "allow" } else { "deny" };
    let mut attributes = vec![
        KeyValue::new("wrnexus.decision", verdict),
        KeyValue::new("wrnexus.decision_id", decision.id().to_string()),
        KeyValue::new("wrnexus.policies", decision.policies.join(",")),
        KeyValue::new("wrnexus.action", action.to_string()),
    ];
    if let Some(code) = &decision.code {
        attributes.push(KeyValue::new("wrnexus.decision_code", code.clone()));
    }
    attributes
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

#[cfg(test)]
mod tests {
    use super::*;
    use wrnexus_policies::{Role, SignInMethods, WorkspaceStatus};

    fn resolved(sign_in_methods: SignInMethods) -> Resolved {
        Resolved {
            role: Some(Role::Member),
            status: WorkspaceStatus::Active,
            plan: "free".into(),
            projects: None,
            email_verified: true,
            sign_in_methods,
            max_session_age_secs: Some(600),
        }
    }

    fn refused(code: &str, html: bool, resolved: &Resolved, sign_in: SignIn<'_>) -> DenyReason {
        let mut req = match RequestHeader::build("GET", b"/w1/notes?q=a&b=1", None) {
            Ok(req) => req,
            Err(e) => panic!("{e}"),
        };
        if html {
            let _ = req.insert_header("accept", "text/html");
        }
        let subject = Subject {
            principal: Principal::User("u1"),
            session_id: Some("s1"),
            workspace_id: "w1",
            resolved,
            project: None,
            known: None,
            sign_in,
        };
        sign_in_again(code, &req, &subject)
    }

    #[test]
    fn sso_required_links_through_the_workspaces_idp_back_to_the_request() {
        let strict = resolved(SignInMethods::SSO_ONLY);
        let reason = refused("sso_required", true, &strict, SignIn::UNRESTRICTED);
        assert_eq!(
            reason,
            DenyReason::SsoRequired {
                sign_in_url:
                    "/.wrnexus/sso/start?workspace_id=w1&return_to=/w1/notes%3Fq%3Da%26b%3D1".into(),
                browser: true,
            }
        );
    }

    #[test]
    fn an_old_session_signs_in_again_the_way_it_did() {
        let open = resolved(SignInMethods::ALL);
        let reason = refused("session_too_old", false, &open, SignIn::UNRESTRICTED);
        assert_eq!(
            reason,
            DenyReason::ReauthenticationRequired {
                sign_in_url: "/.wrnexus/signin?return_to=/w1/notes%3Fq%3Da%26b%3D1".into(),
                browser: false,
            }
        );
        let through_idp = SignIn {
            method: "sso",
            sso_workspace_id: Some("w1"),
            ..SignIn::UNRESTRICTED
        };
        let DenyReason::ReauthenticationRequired { sign_in_url, .. } =
            refused("session_too_old", false, &open, through_idp)
        else {
            panic!("not a reauthentication");
        };
        assert!(sign_in_url.starts_with("/.wrnexus/sso/start?workspace_id=w1&"));
    }
}
