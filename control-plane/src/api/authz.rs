//! Authorizing API calls with the same Cedar policies the gateway uses.

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use crate::store::StoreError;
use crate::store::audit::{AuditRecord, Outcome};
use axum::http::StatusCode;
use serde_json::json;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Decision, DecisionRequest, Principal, Role, SignIn};

/// What an allowed caller may do: their role (a key's ceiling), and what
/// was decided, so that a rule checked afterwards can refuse the same way.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub role: Role,
    workspace_id: String,
    action: String,
    path: String,
}

/// Cedar's decision on `caller` taking `action` on `workspace_id` (or on
/// one of its projects, archived or not as its row says), with the role it
/// was decided for (a key's ceiling); nothing is audited. Non-members get
/// 404 so that they learn nothing about the workspace. A membership's or a
/// key's project limits are the request's grants. `method` is the request's
/// own method unless given.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    workspace_id: &str,
    project_id: Option<&str>,
    action: &str,
    path: &str,
    method: Option<&str>,
) -> Result<(Decision, Role), ApiError> {
    let not_found = || ApiError::not_found("workspace");
    let workspace = state
        .store
        .workspace(workspace_id)
        .await?
        .ok_or_else(not_found)?;
    // A person's own verification; no email stands behind a key.
    let (principal, role, projects, email_verified) = match caller {
        Caller::User(actor) => {
            let membership = state
                .store
                .membership(workspace_id, &actor.user_id)
                .await?
                .ok_or_else(not_found)?;
            (
                Principal::User(&actor.user_id),
                membership.role,
                membership.projects,
                actor.email_verified,
            )
        }
        Caller::Key { key, .. } => (
            Principal::ApiKey {
                id: &key.id,
                workspace_id: &key.workspace_id,
            },
            key.role_ceiling,
            key.projects.clone(),
            true,
        ),
    };
    // A project that is not there is decided as an open one; the change
    // itself then finds no project (404).
    let project_archived = match project_id {
        Some(project_id) => state
            .store
            .project(workspace_id, project_id)
            .await?
            .is_some_and(|p| p.archived),
        None => false,
    };
    // The request's own method; a read when there is none to go by.
    let method = method
        .or(caller.meta().method.as_deref())
        .unwrap_or(match action {
            "read" => "GET",
            _ => "POST",
        });
    let decision = state.policies.decide(&DecisionRequest {
        principal,
        action,
        workspace_id,
        project_id,
        project_archived,
        granted_projects: projects.as_deref(),
        role: Some(role),
        workspace_status: workspace.status,
        email_verified,
        plan: &workspace.plan,
        method,
        path,
        sign_in: sign_in_of(caller, &workspace, role, path, method),
    });
    Ok((decision, role))
}

/// Where an owner may go with any session: an IdP that fails must not lock
/// its owners out of turning "require SSO" off (the sign-in policy), and
/// the console must show what to repair (reading the workspace and its
/// SSO settings). Changing the connection or the domains takes a session
/// the policy admits (so a stolen owner password alone cannot point the
/// workspace at another IdP); once the policy is relaxed, any will do.
const SIGN_IN_REPAIRS: [&str; 1] = ["/sign-in-policy"];

/// Routes an owner may read with any session (see [`SIGN_IN_REPAIRS`]).
const SIGN_IN_READS: [&str; 3] = ["/workspace", "/sso", "/sso/domains"];

/// Whether an owner's call (`method` on `path`) is one of the repairs (see
/// [`SIGN_IN_REPAIRS`]).
fn repairs_sign_in(path: &str, method: &str) -> bool {
    let reading = matches!(method, "GET" | "HEAD");
    SIGN_IN_REPAIRS.contains(&path) || (SIGN_IN_READS.contains(&path) && reading)
}

/// How the caller signed in, as the workspace's sign-in policy judges it:
/// a session is held to it on every route (so that "require SSO" also
/// guards the API and the console: no password session makes API keys
/// there), except an owner's on the repair routes; keys are not.
fn sign_in_of<'a>(
    caller: &'a Caller,
    workspace: &crate::store::workspaces::Workspace,
    role: Role,
    path: &str,
    method: &str,
) -> SignIn<'a> {
    match caller {
        Caller::User(_) if role == Role::Owner && repairs_sign_in(path, method) => {
            SignIn::UNRESTRICTED
        }
        Caller::User(actor) => SignIn::session(
            &actor.claims,
            &workspace.id,
            workspace.sign_in_methods,
            workspace.max_session_age_secs,
            crate::store::now(),
        ),
        Caller::Key { .. } => SignIn::API_KEY,
    }
}

/// Check that `caller` may take `action` on `workspace_id` (see
/// [`decide`]); a denial is audited with its decision id and policies.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    workspace_id: &str,
    project_id: Option<&str>,
    action: &str,
    path: &str,
) -> Result<Allowed, ApiError> {
    let (decision, role) =
        decide(state, caller, workspace_id, project_id, action, path, None).await?;
    if decision.allowed {
        return Ok(Allowed {
            role,
            workspace_id: workspace_id.to_string(),
            action: action.to_string(),
            path: path.to_string(),
        });
    }
    tracing::info!(
        decision_id = %decision.id(),
        workspace_id,
        action,
        policies = ?decision.policies,
        errors = ?decision.errors,
        "api call denied"
    );
    // An audit row's `detail` is free-form JSON (no response body).
    let detail = json!({
        "decision_id": decision.id(),
        "action": action,
        "policies": &decision.policies[..],
        "errors": decision.errors,
    });
    audit_denial(state, caller, workspace_id, path, detail).await;
    // The codes a policy may name for its refusal; any other is `forbidden`.
    let code = decision
        .code
        .as_deref()
        // The policy's reason, as the client is told it.
        .map(|c| match c {
            "session_too_old" => "reauthentication_required",
            other => other,
        })
        .and_then(|c| c.parse::<ProblemCode>().ok())
        .filter(|c| {
            matches!(
                c,
                ProblemCode::WorkspaceReadOnly
                    | ProblemCode::ApiKeyWrongWorkspace
                    | ProblemCode::ProjectNotGranted
                    | ProblemCode::ProjectArchived
                    | ProblemCode::EmailUnverified
                    | ProblemCode::SsoRequired
                    | ProblemCode::ReauthenticationRequired
                    | ProblemCode::SignInMethodNotAllowed
            )
        })
        .unwrap_or(ProblemCode::Forbidden);
    let detail = match code {
        ProblemCode::WorkspaceReadOnly => format!(
            "the workspace is suspended and read-only: reading and billing still work (decision {})",
            decision.id()
        ),
        ProblemCode::ProjectArchived => format!(
            "the project is archived and read-only: an admin can unarchive it (decision {})",
            decision.id()
        ),
        ProblemCode::SsoRequired => format!(
            "this workspace requires signing in through its own identity provider: \
             /.wrnexus/sso/start?workspace_id={workspace_id} (decision {})",
            decision.id()
        ),
        ProblemCode::ReauthenticationRequired => format!(
            "this session is older than the workspace allows: sign in again (decision {})",
            decision.id()
        ),
        ProblemCode::SignInMethodNotAllowed => format!(
            "this workspace does not allow the way this session was signed in (decision {})",
            decision.id()
        ),
        ProblemCode::EmailUnverified => format!(
            "this workspace requires a verified email: use the link mailed to you, or ask for a new one at /.wrnexus/verify-email (decision {})",
            decision.id()
        ),
        _ => format!(
            "your role `{role}` may not `{action}` here (decision {})",
            decision.id()
        ),
    };
    Err(ApiError::new(StatusCode::FORBIDDEN, code, detail).decision(decision.id()))
}

/// File a denied call as `api.denied`. A key's attempt outside its
/// workspace is its own workspace's business.
async fn audit_denial(
    state: &AppState,
    caller: &Caller,
    workspace_id: &str,
    path: &str,
    detail: serde_json::Value,
) {
    let audited = match caller {
        Caller::Key { key, .. } => key.workspace_id.as_str(),
        Caller::User(_) => workspace_id,
    };
    let record = AuditRecord {
        workspace_id: Some(audited),
        action: "api.denied",
        target: Some(path),
        outcome: Outcome::Denied,
        detail: Some(detail),
    };
    if let Err(e) = state.store.audit_only(caller.meta(), record).await {
        tracing::warn!(error = %e, "auditing a denial failed");
    }
}

/// The rule behind [`owner_only`] refusals, as their audit rows name it.
pub const OWNER_ONLY_RULE: &str = "owner_only";

/// Only an owner may `what` (delete the workspace, hand it over, grant or
/// take away the owner role). Checked after an allowed `admin` decision; a
/// refusal is answered and audited like a policy denial, with its own
/// decision id and the rule's name.
pub async fn owner_only(
    state: &AppState,
    caller: &Caller,
    allowed: &Allowed,
    what: &str,
) -> Result<(), ApiError> {
    if allowed.role == Role::Owner {
        return Ok(());
    }
    Err(owner_refusal(state, caller, allowed, what).await)
}

/// A store answer to a change only an owner may make of an owner's
/// membership (the store decides under the workspace lock): its
/// `OwnerRequired` is refused like [`owner_only`].
pub async fn owner_checked<T>(
    state: &AppState,
    caller: &Caller,
    allowed: &Allowed,
    answer: Result<T, StoreError>,
) -> Result<T, ApiError> {
    match answer {
        Err(StoreError::OwnerRequired { what }) => {
            Err(owner_refusal(state, caller, allowed, what).await)
        }
        other => Ok(other?),
    }
}

/// The refusal of [`owner_only`]: audited, with its own decision id.
async fn owner_refusal(
    state: &AppState,
    caller: &Caller,
    allowed: &Allowed,
    what: &str,
) -> ApiError {
    let decision_id = uuid::Uuid::now_v7().to_string();
    tracing::info!(
        decision_id = %decision_id,
        workspace_id = %allowed.workspace_id,
        action = %allowed.action,
        rule = OWNER_ONLY_RULE,
        "api call denied"
    );
    // Free-form audit detail, shaped like a policy denial's.
    let detail = json!({
        "decision_id": decision_id,
        "action": allowed.action,
        "rule": OWNER_ONLY_RULE,
        "policies": [],
        "errors": [],
    });
    audit_denial(state, caller, &allowed.workspace_id, &allowed.path, detail).await;
    ApiError::new(
        StatusCode::FORBIDDEN,
        ProblemCode::OwnerRequired,
        format!("only an owner can {what} (decision {decision_id})"),
    )
    .decision(&decision_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::actor::Actor;
    use crate::store::audit::Meta;
    use crate::store::workspaces::Workspace;
    use wrnexus_policies::{SessionClaims, SignInMethods, WorkspaceStatus};

    fn password_session() -> Caller {
        Caller::User(Actor {
            user_id: "usr_1".into(),
            email: "ann@example.com".into(),
            email_verified: true,
            session_id: "ses_1".into(),
            workspace_id: "wsp_1".into(),
            claims: SessionClaims {
                iss: "wrnexus".into(),
                aud: "wrnexus-gateway".into(),
                sub: "usr_1".into(),
                wid: "wsp_1".into(),
                sid: "ses_1".into(),
                iat: 0,
                exp: i64::MAX,
                amr: vec!["pwd".into()],
                auth_time: 0,
                sso_wid: None,
            },
            meta: Meta::system(),
        })
    }

    fn requiring_sso() -> Workspace {
        Workspace {
            id: "wsp_1".into(),
            name: "Acme".into(),
            kind: "team".into(),
            status: WorkspaceStatus::Active,
            plan: "free".into(),
            sign_in_methods: SignInMethods::SSO_ONLY,
            max_session_age_secs: None,
        }
    }

    #[test]
    fn a_session_is_held_to_the_sign_in_policy_on_the_api_too() {
        let caller = password_session();
        let workspace = requiring_sso();
        // Members' routes, whoever calls: the policy applies.
        for role in [Role::Owner, Role::Admin] {
            let judged = sign_in_of(&caller, &workspace, role, "/members", "GET");
            assert_eq!(judged.method, "password");
            assert_eq!(judged.allowed, SignInMethods::SSO_ONLY);
        }
        // Only an owner may repair the workspace's sign-on with any session.
        for path in SIGN_IN_REPAIRS {
            let owner = sign_in_of(&caller, &workspace, Role::Owner, path, "PUT");
            assert_eq!(owner.allowed, SignInMethods::ALL, "{path}");
            let admin = sign_in_of(&caller, &workspace, Role::Admin, path, "PUT");
            assert_eq!(admin.allowed, SignInMethods::SSO_ONLY, "{path}");
        }
        // The console opens with the workspace and shows the SSO settings:
        // an owner may read them, not change them.
        for path in SIGN_IN_READS {
            let read = sign_in_of(&caller, &workspace, Role::Owner, path, "GET");
            assert_eq!(read.allowed, SignInMethods::ALL, "{path}");
            let change = sign_in_of(&caller, &workspace, Role::Owner, path, "PUT");
            assert_eq!(change.allowed, SignInMethods::SSO_ONLY, "{path}");
        }
    }
}
