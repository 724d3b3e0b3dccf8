//! What the caller may do in a workspace, decided by Cedar exactly as the
//! handlers decide it (same action, path and method each handler uses), so
//! that a console offers only what the API would allow. Nothing is audited:
//! asking is not trying.

use super::AppState;
use super::authz::decide;
use super::caller::Caller;
use super::error::ApiError;
use super::responses as doc;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use wrnexus_policies::{Action, DELETE_WORKSPACE_PATH, Role};

/// One management action as its handler asks Cedar about it.
struct Check {
    /// The name the answer uses.
    name: &'static str,
    action: &'static str,
    path: &'static str,
    method: &'static str,
    /// Only an owner, signed in as a person, may (checked after an allow).
    owner_only: bool,
    /// An API key can never do it (the endpoint acts for a person).
    person_only: bool,
}

const fn check(
    name: &'static str,
    action: &'static str,
    path: &'static str,
    method: &'static str,
) -> Check {
    Check {
        name,
        action,
        path,
        method,
        owner_only: false,
        person_only: false,
    }
}

/// Every action the answer names, in the handlers' own terms.
const CHECKS: &[Check] = &[
    check("read", Action::READ, "/workspace", "GET"),
    check("rename", Action::ADMIN, "/workspace", "PATCH"),
    Check {
        owner_only: true,
        ..check("delete", Action::ADMIN, DELETE_WORKSPACE_PATH, "DELETE")
    },
    Check {
        owner_only: true,
        person_only: true,
        ..check("transfer", Action::ADMIN, "/transfer", "POST")
    },
    check("manage_members", Action::ADMIN, "/members", "PATCH"),
    check("invite", Action::ADMIN, "/invitations", "POST"),
    check("view_keys", Action::ADMIN, "/api-keys", "GET"),
    check("manage_keys", Action::ADMIN, "/api-keys", "POST"),
    check("view_webhooks", Action::ADMIN, "/webhooks", "GET"),
    check("manage_webhooks", Action::ADMIN, "/webhooks", "POST"),
    check("manage_projects", Action::ADMIN, "/projects", "POST"),
    check("read_audit", Action::ADMIN, "/audit", "GET"),
    check("billing", Action::BILLING, "/billing", "GET"),
];

/// The caller's role in a workspace and, per management action, whether
/// the policies allow it now (a suspended workspace allows fewer).
#[derive(Debug, Serialize, ToSchema)]
pub struct Permissions {
    /// The caller's role (an API key: its ceiling).
    pub role: Role,
    /// `read`, `rename`, `delete`, `transfer`, `manage_members`, `invite`,
    /// `view_keys`, `manage_keys`, `view_webhooks`, `manage_webhooks`,
    /// `manage_projects`, `read_audit`, `billing` → allowed.
    pub allowed: BTreeMap<&'static str, bool>,
}

/// What the caller may do in a workspace, as Cedar decides it.
#[utoipa::path(
    get,
    path = "/workspaces/{id}/permissions",
    tag = "workspaces",
    operation_id = "get_permissions",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's role and what it may do", body = Permissions),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn permissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Permissions>, ApiError> {
    let mut allowed = BTreeMap::new();
    let mut role = None;
    for c in CHECKS {
        let (decision, decided_for) =
            decide(&state, &caller, &id, None, c.action, c.path, Some(c.method)).await?;
        role = Some(decided_for);
        let person = matches!(caller, Caller::User(_));
        let yes = decision.allowed
            && (!c.owner_only || decided_for == Role::Owner)
            && (!c.person_only || person);
        allowed.insert(c.name, yes);
    }
    let role = role.ok_or_else(ApiError::internal)?;
    Ok(Json(Permissions { role, allowed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_asked_once() {
        let mut names: Vec<_> = CHECKS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHECKS.len());
        assert!(names.contains(&"billing") && names.contains(&"delete"));
    }
}
