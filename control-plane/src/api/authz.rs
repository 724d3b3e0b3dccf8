//! Authorizing API calls with the same Cedar policies the gateway uses.

use super::AppState;
use super::actor::Actor;
use super::error::ApiError;
use axum::http::StatusCode;
use wrnexus_policies::{DecisionRequest, Principal, Role};

/// Check that `actor` may take `action` on `workspace_id`; returns their
/// role. Non-members get 404 so that they learn nothing about the workspace.
pub async fn authorize(
    state: &AppState,
    actor: &Actor,
    workspace_id: &str,
    action: &str,
    method: &str,
    path: &str,
) -> Result<Role, ApiError> {
    let not_found = || ApiError::not_found("workspace");
    let workspace = state
        .store
        .workspace(workspace_id)
        .await?
        .ok_or_else(not_found)?;
    let role = state
        .store
        .role_of(workspace_id, &actor.user_id)
        .await?
        .ok_or_else(not_found)?;
    let decision = state.policies.decide(&DecisionRequest {
        principal: Principal::User(&actor.user_id),
        action,
        workspace_id,
        project_id: None,
        role: Some(role),
        workspace_status: workspace.status,
        plan: &workspace.plan,
        method,
        path,
    });
    if decision.allowed {
        return Ok(role);
    }
    tracing::info!(
        decision_id = %decision.id,
        user_id = %actor.user_id,
        workspace_id,
        action,
        policies = ?decision.policies,
        errors = ?decision.errors,
        "api call denied"
    );
    let code = match decision.code.as_deref() {
        Some("workspace_read_only") => "workspace_read_only",
        _ => "forbidden",
    };
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        code,
        format!(
            "your role `{role}` may not `{action}` in this workspace (decision {})",
            decision.id
        ),
    ))
}
