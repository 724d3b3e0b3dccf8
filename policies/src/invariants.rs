//! Invariants every policy set must keep, checked on every load by
//! exhaustive evaluation over role × action × status × credential (and, for
//! API keys, their own workspace or another): an edit that breaks one is
//! refused, naming the rule and the policy that let the request through.

use crate::engine::{DecisionRequest, PolicyEngine, Principal};
use crate::model::{Action, Role, WorkspaceStatus};

/// The invariants, by name.
pub const INVARIANTS: &[&str] = &[
    "a suspended workspace never allows a write",
    "a non-member is always denied",
    "an API key never acts outside its workspace",
    "a viewer never writes",
];

/// One broken invariant, with the request that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    /// The request, described.
    pub request: String,
    /// The policies that allowed it.
    pub policies: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant broken: {} ({} was allowed by {})",
            self.invariant,
            self.request,
            self.policies.join(", ")
        )
    }
}

/// Check every invariant; the first violation of each.
pub fn check(engine: &PolicyEngine) -> Vec<Violation> {
    let roles = [
        None,
        Some(Role::Owner),
        Some(Role::Admin),
        Some(Role::Member),
        Some(Role::Viewer),
    ];
    let statuses = [WorkspaceStatus::Active, WorkspaceStatus::Suspended];
    let mut actions: Vec<&str> = engine.actions().collect();
    actions.sort_unstable();
    let mut found: Vec<Violation> = Vec::new();
    for action in &actions {
        for role in roles {
            for status in statuses {
                // (credential, key's own workspace)
                for (key_workspace, project) in [
                    (None, None),
                    (Some("w1"), None),
                    (Some("w2"), None),
                    (Some("w2"), Some("p1")),
                ] {
                    let principal = match key_workspace {
                        None => Principal::User("u1"),
                        Some(w) => Principal::ApiKey {
                            id: "k1",
                            workspace_id: w,
                        },
                    };
                    let method = if *action == Action::READ {
                        "GET"
                    } else {
                        "POST"
                    };
                    let decision = engine.decide(&DecisionRequest {
                        principal,
                        action,
                        workspace_id: "w1",
                        project_id: project,
                        granted_projects: None,
                        role,
                        workspace_status: status,
                        plan: "free",
                        method,
                        path: "/",
                    });
                    if !decision.allowed {
                        continue;
                    }
                    let broken = [
                        (
                            status == WorkspaceStatus::Suspended && *action == Action::WRITE,
                            0,
                        ),
                        (role.is_none(), 1),
                        (key_workspace.is_some_and(|w| w != "w1"), 2),
                        (role == Some(Role::Viewer) && *action == Action::WRITE, 3),
                    ];
                    for (is_broken, index) in broken {
                        let invariant = INVARIANTS[index];
                        if is_broken && !found.iter().any(|v| v.invariant == invariant) {
                            found.push(Violation {
                                invariant,
                                request: format!(
                                    "`{action}` by a {} with role `{}` in a {} workspace{}",
                                    match key_workspace {
                                        None => "user".to_string(),
                                        Some(w) => format!("key of workspace `{w}`"),
                                    },
                                    role.map_or("none", Role::as_str),
                                    status.as_str(),
                                    project.map_or(String::new(), |p| format!(", project `{p}`")),
                                ),
                                policies: decision
                                    .policies
                                    .iter()
                                    .map(|p| match engine.origin(p) {
                                        Some(o) => format!("`{p}` ({}:{})", o.file, o.line),
                                        None => format!("`{p}`"),
                                    })
                                    .collect(),
                            });
                        }
                    }
                }
            }
        }
    }
    found
}
