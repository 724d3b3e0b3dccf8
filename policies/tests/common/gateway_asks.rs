//! Deciding a counterexample the way the gateway would ask it, where it
//! can be asked so.

use cedar_policy::{EntityUid, EvalResult};
use wrnexus_policies::counterexample::Counterexample;
use wrnexus_policies::engine::PROJECT_ARCHIVED;
use wrnexus_policies::sign_in::{API_KEY_METHOD, NO_SSO_WORKSPACE, SignIn};
use wrnexus_policies::{
    Decision, DecisionRequest, PolicyEngine, Principal, Role, SignInMethods, WorkspaceStatus,
};

fn string(cx: &Counterexample, name: &str) -> Option<String> {
    cx.context_string(name)
}

fn id(uid: &EntityUid) -> String {
    uid.id().unescaped().to_string()
}

/// The gateway's own request for `cx`, decided by `engine` (afresh), when
/// the counterexample is one the gateway could ask: a known role and
/// status, a credential matching the principal, grants matching the
/// limitation, a key with its workspace, a project in exactly one
/// workspace (archived or not), a sign-in the gateway could see (a key's
/// as keys are). `None` otherwise.
pub fn as_the_gateway_asks(engine: &PolicyEngine, cx: &Counterexample) -> Option<Decision> {
    let request = &cx.request;
    let context = request.context()?;
    let role = match string(cx, "role")?.as_str() {
        "none" => None,
        other => Some(other.parse::<Role>().ok()?),
    };
    let status = string(cx, "workspace_status")?
        .parse::<WorkspaceStatus>()
        .ok()?;
    let (plan, method, path) = (
        string(cx, "plan")?,
        string(cx, "method")?,
        string(cx, "path")?,
    );
    let limited = matches!(context.get("project_limited")?, EvalResult::Bool(true));
    let granted: Vec<String> = match context.get("granted_projects")? {
        EvalResult::Set(set) => set
            .iter()
            .map(|v| match v {
                EvalResult::EntityUid(uid) => Some(id(uid)),
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    if !limited && !granted.is_empty() {
        return None;
    }
    let principal_uid = request.principal()?;
    let resource_uid = request.resource()?;
    let key_workspace = match principal_uid.type_name().basename() {
        "User" => None,
        "ApiKey" => match cx.entities.get(principal_uid)?.attr("workspace")?.ok()? {
            EvalResult::EntityUid(w) => Some(id(&w)),
            _ => return None,
        },
        _ => return None,
    };
    let credential = if key_workspace.is_some() {
        "api_key"
    } else {
        "session"
    };
    if string(cx, "credential")? != credential {
        return None;
    }
    let (workspace, project, archived) = match resource_uid.type_name().basename() {
        "Workspace" => (id(resource_uid), None, false),
        "Project" => {
            let entity = cx.entities.get(resource_uid)?;
            let archived = match entity.attr(PROJECT_ARCHIVED)?.ok()? {
                EvalResult::Bool(b) => b,
                _ => return None,
            };
            let (_, _, parents) = entity.clone().into_inner();
            let mut workspaces = parents
                .iter()
                .filter(|p| p.type_name().basename() == "Workspace");
            let workspace = workspaces.next()?;
            if workspaces.next().is_some() {
                return None;
            }
            (id(workspace), Some(id(resource_uid)), archived)
        }
        _ => return None,
    };
    let sign_in_method = string(cx, "sign_in_method")?;
    let sso_workspace = match context.get("sso_workspace")? {
        EvalResult::EntityUid(uid) => id(&uid),
        _ => return None,
    };
    let allowed: SignInMethods = match context.get("allowed_sign_in_methods")? {
        EvalResult::Set(set) => set
            .iter()
            .map(|v| match v {
                EvalResult::String(s) => s.parse().ok(),
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let long = |name: &str| match context.get(name) {
        Some(EvalResult::Long(n)) => Some(n),
        _ => None,
    };
    let (session_age_secs, max_session_age_secs) =
        (long("session_age_secs")?, long("max_session_age_secs")?);
    let sso_workspace_id = (sso_workspace != NO_SSO_WORKSPACE).then_some(sso_workspace.as_str());
    let as_gateway_signs_in = if key_workspace.is_some() {
        sign_in_method == API_KEY_METHOD && sso_workspace_id.is_none() && session_age_secs == 0
    } else {
        ["password", "oidc", "sso"].contains(&sign_in_method.as_str())
            && (sign_in_method == "sso") == sso_workspace_id.is_some()
            && session_age_secs >= 0
    };
    if !as_gateway_signs_in || allowed.is_empty() || max_session_age_secs < 0 {
        return None;
    }
    let sign_in = SignIn {
        method: &sign_in_method,
        sso_workspace_id,
        allowed,
        session_age_secs,
        max_session_age_secs,
    };
    let principal_id = id(principal_uid);
    let action = request.action()?.id().unescaped().to_string();
    let principal = match &key_workspace {
        None => Principal::User(&principal_id),
        Some(w) => Principal::ApiKey {
            id: &principal_id,
            workspace_id: w,
        },
    };
    Some(engine.decide_fresh(&DecisionRequest {
        principal,
        action: &action,
        workspace_id: &workspace,
        project_id: project.as_deref(),
        project_archived: archived,
        granted_projects: limited.then_some(&granted[..]),
        role,
        workspace_status: status,
        email_verified: true,
        plan: &plan,
        method: &method,
        path: &path,
        sign_in,
    }))
}
