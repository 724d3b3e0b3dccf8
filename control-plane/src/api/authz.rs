//! Authorizing API calls with the same Cedar policies the gateway uses.

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use crate::store::audit::{AuditRecord, Outcome};
use axum::http::StatusCode;
use serde_json::json;
use wrnexus_policies::{DecisionRequest, Principal, Role};

/// What an allowed caller may do: their role (a key's ceiling).
#[derive(Debug, Clone)]
pub struct Allowed {
    pub role: Role,
}

/// Check that `caller` may take `action` on `workspace_id` (or on one of its
/// projects). Non-members get 404 so that they learn nothing about the
/// workspace; a denial is audited with its decision id and policies.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    workspace_id: &str,
    project_id: Option<&str>,
    action: &str,
    path: &str,
) -> Result<Allowed, ApiError> {
    let not_found = || ApiError::not_found("workspace");
    let workspace = state
        .store
        .workspace(workspace_id)
        .await?
        .ok_or_else(not_found)?;
    let (principal, role, projects) = match caller {
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
            )
        }
        Caller::Key { key, .. } => (
            Principal::ApiKey {
                id: &key.id,
                workspace_id: &key.workspace_id,
            },
            key.role_ceiling,
            None,
        ),
    };
    // The request's own method; a read when there is none to go by.
    let method = caller.meta().method.as_deref().unwrap_or(match action {
        "read" => "GET",
        _ => "POST",
    });
    let decision = state.policies.decide(&DecisionRequest {
        principal,
        action,
        workspace_id,
        project_id,
        granted_projects: projects.as_deref(),
        role: Some(role),
        workspace_status: workspace.status,
        plan: &workspace.plan,
        method,
        path,
    });
    if decision.allowed {
        return Ok(Allowed { role });
    }
    tracing::info!(
        decision_id = %decision.id,
        workspace_id,
        action,
        policies = ?decision.policies,
        errors = ?decision.errors,
        "api call denied"
    );
    // A key's attempt outside its workspace is its own workspace's business.
    let audited = match caller {
        Caller::Key { key, .. } => key.workspace_id.as_str(),
        Caller::User(_) => workspace_id,
    };
    let record = AuditRecord {
        workspace_id: Some(audited),
        action: "api.denied",
        target: Some(path),
        outcome: Outcome::Denied,
        detail: Some(json!({
            "decision_id": decision.id,
            "action": action,
            "policies": decision.policies,
            "errors": decision.errors,
        })),
    };
    if let Err(e) = state.store.audit_only(caller.meta(), record).await {
        tracing::warn!(error = %e, "auditing a denial failed");
    }
    let code = match decision.code.as_deref() {
        Some("workspace_read_only") => "workspace_read_only",
        Some("api_key_wrong_workspace") => "api_key_wrong_workspace",
        Some("project_not_granted") => "project_not_granted",
        _ => "forbidden",
    };
    let detail = if code == "workspace_read_only" {
        format!(
            "the workspace is suspended and read-only: reading and billing still work (decision {})",
            decision.id
        )
    } else {
        format!(
            "your role `{role}` may not `{action}` here (decision {})",
            decision.id
        )
    };
    Err(ApiError::new(StatusCode::FORBIDDEN, code, detail).decision(&decision.id))
}

/// Only an owner grants, takes away or hands over the owner role.
pub fn owner_only(allowed: &Allowed) -> Result<(), ApiError> {
    if allowed.role == Role::Owner {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "owner_required",
            "only an owner can grant or take away the owner role",
        ))
    }
}
