//! The decision request the micro-benchmarks decide: a member's write to
//! an app path of their active workspace.

use wrnexus_policies::{DecisionRequest, Principal, Role, SignIn, WorkspaceStatus};

/// `user`, a member of `workspace`, writing (`POST /app/items`).
pub fn member_write<'a>(user: &'a str, workspace: &'a str) -> DecisionRequest<'a> {
    DecisionRequest {
        principal: Principal::User(user),
        action: "write",
        workspace_id: workspace,
        project_id: None,
        project_archived: false,
        granted_projects: None,
        role: Some(Role::Member),
        workspace_status: WorkspaceStatus::Active,
        email_verified: true,
        plan: "free",
        method: "POST",
        path: "/app/items",
        sign_in: SignIn::UNRESTRICTED,
    }
}
