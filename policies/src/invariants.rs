//! Invariants every policy set must keep, checked on every load by
//! exhaustive evaluation: every request of the [`Space`] built from the
//! schema's actions and the policies' own literals is decided, and an edit
//! that lets one through that an invariant forbids is refused, naming the
//! invariant, the request and the policies that allowed it.

use crate::engine::{DecisionRequest, PolicyEngine, Principal};
use crate::model::{Action, Role, WorkspaceStatus, is_safe_method};
use crate::vocabulary::Vocabulary;
use std::collections::BTreeSet;

/// The invariants, by name.
pub const INVARIANTS: &[&str] = &[
    SUSPENDED_NO_WRITE,
    NON_MEMBER_DENIED,
    KEY_OWN_WORKSPACE,
    VIEWER_NO_WRITE,
];

pub const SUSPENDED_NO_WRITE: &str = "a suspended workspace never allows a write";
pub const NON_MEMBER_DENIED: &str = "a non-member is always denied";
pub const KEY_OWN_WORKSPACE: &str = "an API key never acts outside its workspace";
pub const VIEWER_NO_WRITE: &str = "a viewer never writes";

/// Paths under this prefix are the control plane's own: the gateway hands
/// them over without deciding, and the control plane decides with the paths
/// it chooses (e.g. [`crate::DELETE_WORKSPACE_PATH`]), so they are not app
/// paths and the space leaves them out.
pub const CONTROL_PLANE_PREFIX: &str = "/.wrnexus/";

/// The app path every space tries, besides the policies' literals.
pub const PLAIN_PATH: &str = "/";

/// The plan every space tries, besides the policies' literals.
pub const DEFAULT_PLAN: &str = "free";

/// The methods every space tries (the safe ones and the usual writes).
pub const METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/// Whether a request changes things, for the invariants: the `write`
/// action with any method, and any other action except `read` and
/// `billing` with a method that is not safe (not GET, HEAD or OPTIONS).
/// `billing` stays open while suspended so that an owner can pay; `read`
/// is what a route or the control plane names for a request that changes
/// nothing in the workspace (e.g. a search sent with POST, or a member
/// leaving it), whatever its method.
pub fn is_write(action: &str, method: &str) -> bool {
    action == Action::WRITE
        || (action != Action::READ && action != Action::BILLING && !is_safe_method(method))
}

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

/// Who asks: a user, or a key of the request's workspace or of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    User,
    OwnKey,
    OtherKey,
}

const WORKSPACE: &str = "w1";
const OTHER_WORKSPACE: &str = "w2";
const PROJECT: &str = "p1";
const OTHER_PROJECT: &str = "p2";

/// Every request the invariants are checked on: principal (user, key of the
/// workspace, key of another) × resource (the workspace, a project in it) ×
/// action × role (the four and none) × status × method × path × plan ×
/// project grants (all, limited with the project, limited without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// Every action the schema declares.
    pub actions: Vec<String>,
    /// [`METHODS`] and every upper-case literal the policies compare the
    /// method with; when the method is only compared for equality, the
    /// methods no policy names are decided alike, and the first safe and the
    /// first other one of them stand for the rest.
    pub methods: Vec<String>,
    /// [`PLAIN_PATH`] and every literal the policies compare the path with
    /// (a string matching each `like` pattern, its wildcards matching
    /// nothing), or use where it could be the path; except paths under
    /// [`CONTROL_PLANE_PREFIX`]. Only [`PLAIN_PATH`] if no policy reads the
    /// path: then it cannot change a decision.
    pub paths: Vec<String>,
    /// [`DEFAULT_PLAN`] and the literals the policies compare the plan with
    /// (or use otherwise); only [`DEFAULT_PLAN`] if no policy reads the plan.
    pub plans: Vec<String>,
    /// Whether some policy names an entity by id. When none does, a
    /// membership limited to some project decides alike on the workspace
    /// whichever project that is, so only one limited grant is tried there.
    pub names_entities: bool,
}

impl Space {
    /// The space of `engine`'s schema and policies.
    pub fn of(engine: &PolicyEngine) -> Space {
        let vocabulary = Vocabulary::of(engine.policy_set());
        let mut actions: Vec<String> = engine.actions().map(str::to_string).collect();
        actions.sort_unstable();
        let named: BTreeSet<String> = vocabulary
            .values_of("method")
            .into_iter()
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()))
            .collect();
        let mut methods = named.clone();
        if vocabulary.only_compared("method") {
            // Methods no policy names are decided alike: one of each kind
            // (safe or not) stands for the others.
            for safe in [true, false] {
                if let Some(m) = METHODS
                    .iter()
                    .find(|m| is_safe_method(m) == safe && !named.contains(**m))
                {
                    methods.insert(m.to_string());
                }
            }
        } else {
            methods.extend(METHODS.iter().map(|m| m.to_string()));
        }
        let mut paths = BTreeSet::from([PLAIN_PATH.to_string()]);
        if vocabulary.reads("path") {
            paths.extend(
                vocabulary
                    .values_of("path")
                    .into_iter()
                    .filter(|p| !p.starts_with(CONTROL_PLANE_PREFIX)),
            );
        }
        let mut plans = BTreeSet::from([DEFAULT_PLAN.to_string()]);
        if vocabulary.reads("plan") {
            plans.extend(vocabulary.values_of("plan"));
        }
        Space {
            actions,
            methods: methods.into_iter().collect(),
            paths: paths.into_iter().collect(),
            plans: plans.into_iter().collect(),
            names_entities: vocabulary.names_entities(),
        }
    }

    /// How many requests the space holds.
    pub fn len(&self) -> usize {
        // principals × resources × roles × statuses × grants
        3 * 2
            * 5
            * 2
            * 3
            * self.actions.len()
            * self.methods.len()
            * self.paths.len()
            * self.plans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Check every invariant over the space of `engine`; the first violation
/// of each.
pub fn check(engine: &PolicyEngine) -> Vec<Violation> {
    check_space(engine, &Space::of(engine))
}

/// The part of a request that decides which invariants are at stake.
#[derive(Debug, Clone, Copy)]
struct Shape<'a> {
    action: &'a str,
    method: &'a str,
    role: Option<Role>,
    status: WorkspaceStatus,
    who: Who,
}

impl Shape<'_> {
    /// Which invariants a request of this shape breaks if it is allowed.
    fn at_stake(&self) -> [bool; 4] {
        let write = is_write(self.action, self.method);
        [
            self.status == WorkspaceStatus::Suspended && write,
            self.role.is_none(),
            self.who == Who::OtherKey,
            self.role == Some(Role::Viewer) && write,
        ]
    }
}

/// Check every invariant over `space`; the first violation of each. Only
/// requests that could break an invariant not yet found broken are
/// evaluated (the others cannot matter), without the engine's memo.
pub fn check_space(engine: &PolicyEngine, space: &Space) -> Vec<Violation> {
    let roles = [
        Some(Role::Owner),
        Some(Role::Admin),
        Some(Role::Member),
        Some(Role::Viewer),
        None,
    ];
    let shapes = space.actions.iter().flat_map(|action| {
        space.methods.iter().flat_map(move |method| {
            roles.into_iter().flat_map(move |role| {
                WorkspaceStatus::ALL.into_iter().flat_map(move |status| {
                    [Who::User, Who::OwnKey, Who::OtherKey].map(|who| Shape {
                        action,
                        method,
                        role,
                        status,
                        who,
                    })
                })
            })
        })
    });
    let mut broken = [false; 4];
    let mut found = Vec::new();
    for shape in shapes {
        let stake = shape.at_stake();
        if !stake.iter().zip(broken).any(|(s, b)| *s && !b) {
            continue;
        }
        let Some((request, policies)) = first_allowed(engine, space, shape) else {
            continue;
        };
        for (index, invariant) in INVARIANTS.iter().enumerate() {
            if stake[index] && !broken[index] {
                broken[index] = true;
                found.push(Violation {
                    invariant,
                    request: request.clone(),
                    policies: name_policies(engine, &policies),
                });
            }
        }
        if broken.iter().all(|b| *b) {
            break;
        }
    }
    found
}

/// The first request of `shape` (over resource, grants, path and plan)
/// that `engine` allows, described, with the policies that allowed it.
fn first_allowed(
    engine: &PolicyEngine,
    space: &Space,
    shape: Shape<'_>,
) -> Option<(String, Vec<String>)> {
    let granted = [PROJECT.to_string()];
    let not_granted = [OTHER_PROJECT.to_string()];
    let principal = match shape.who {
        Who::User => Principal::User("u1"),
        Who::OwnKey => Principal::ApiKey {
            id: "k1",
            workspace_id: WORKSPACE,
        },
        Who::OtherKey => Principal::ApiKey {
            id: "k1",
            workspace_id: OTHER_WORKSPACE,
        },
    };
    for project_id in [None, Some(PROJECT)] {
        for granted_projects in [None, Some(&granted[..]), Some(&not_granted[..])] {
            if project_id.is_none()
                && granted_projects == Some(&not_granted[..])
                && !space.names_entities
            {
                continue;
            }
            for path in &space.paths {
                for plan in &space.plans {
                    let request = DecisionRequest {
                        principal,
                        action: shape.action,
                        workspace_id: WORKSPACE,
                        project_id,
                        granted_projects,
                        role: shape.role,
                        workspace_status: shape.status,
                        plan,
                        method: shape.method,
                        path,
                    };
                    // Afresh: a sweep's requests never recur, so the memo is
                    // neither read nor filled.
                    let decision = engine.decide_fresh(&request);
                    if decision.allowed {
                        return Some((describe(&request, shape.who), decision.policies.to_vec()));
                    }
                }
            }
        }
    }
    None
}

/// The request, in words.
fn describe(request: &DecisionRequest<'_>, who: Who) -> String {
    let principal = match who {
        Who::User => "a user".to_string(),
        Who::OwnKey => "an API key of the workspace".to_string(),
        Who::OtherKey => format!("an API key of workspace `{OTHER_WORKSPACE}`"),
    };
    let resource = match request.project_id {
        None => format!("workspace `{}`", request.workspace_id),
        Some(p) => format!("project `{p}` of workspace `{}`", request.workspace_id),
    };
    let grants = match request.granted_projects {
        None => String::new(),
        Some(projects) => format!(", membership limited to projects {projects:?}"),
    };
    format!(
        "`{}` by {principal} with role `{}` on {resource} ({} workspace, plan `{}`): {} `{}`{grants}",
        request.action,
        request.role.map_or(crate::model::NO_ROLE, Role::as_str),
        request.workspace_status.as_str(),
        request.plan,
        request.method,
        request.path,
    )
}

/// Policy ids with the file and line they were written at.
fn name_policies(engine: &PolicyEngine, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|p| match engine.origin(p) {
            Some(o) => format!("`{p}` ({}:{})", o.file, o.line),
            None => format!("`{p}`"),
        })
        .collect()
}

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
