//! The invariants checked by sampling: every request of a [`Space`] built
//! from the schema's actions and the literals of the policies and the
//! invariants is decided, as the gateway builds requests. An invariant
//! (see [`crate::invariant_set`]) that matches a request the policies
//! allow (`must_deny`) or deny (`must_allow`) is broken, and the refusal
//! names it, the request and the policies that decided it. This is the
//! whole check when no solver is at hand, and a cross-check of the proofs
//! ([`crate::proof`]) where the space is small.

use crate::counterexample::named_policies;
use crate::engine::{DecisionRequest, PolicyEngine, Principal};
use crate::invariant_set::{InvariantSet, Kind};
use crate::load::Origin;
use crate::model::{Role, WorkspaceStatus, is_safe_method};
use crate::sign_in::SignIn;
use crate::vocabulary::Vocabulary;
use cedar_policy::Entities;
use std::collections::{BTreeSet, HashSet};

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

/// Spaces up to this many requests are sampled beside the proofs.
pub const CROSS_CHECK_LIMIT: usize = 20_000;

/// One broken invariant, with the first sampled request that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: String,
    pub kind: Kind,
    /// Where the invariant is written.
    pub origin: Origin,
    /// The request, described.
    pub request: String,
    /// Whether the policies allowed it.
    pub allowed: bool,
    /// The policies that decided it, with file and line.
    pub policies: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decided = match (self.allowed, self.policies.is_empty()) {
            (true, _) => format!("allowed by {}", self.policies),
            (false, false) => format!("denied by {}", self.policies),
            (false, true) => "denied: no permit matches it (default deny)".to_string(),
        };
        write!(
            f,
            "invariant broken: {} ({}:{}, {}): {} was {decided}",
            self.invariant, self.origin.file, self.origin.line, self.kind, self.request
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

/// Every request the sampled check decides: principal (user, key of the
/// workspace, key of another) × resource (the workspace, a project in it,
/// an archived project in it) ×
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
    /// The space of `engine`'s schema and policies and of `invariants`.
    pub fn of(engine: &PolicyEngine, invariants: &InvariantSet) -> Space {
        let vocabulary = Vocabulary::of_all(&[engine.policy_set(), invariants.policy_set()]);
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
        3 * 3
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

/// Check every invariant over the space of `engine` and `invariants`; the
/// first violation of each.
pub fn check(engine: &PolicyEngine, invariants: &InvariantSet) -> Vec<Violation> {
    check_space(engine, invariants, &Space::of(engine, invariants))
}

/// Check every invariant over `space`; the first violation of each. The
/// policies in force decide only requests some invariant not yet found
/// broken matches (the others cannot matter), without the engine's memo.
/// Each request is built once, for both.
pub fn check_space(
    engine: &PolicyEngine,
    invariants: &InvariantSet,
    space: &Space,
) -> Vec<Violation> {
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
    let mut sweep = Sweep {
        engine,
        invariants,
        broken: HashSet::new(),
        found: Vec::new(),
    };
    for shape in shapes {
        sweep.shape(space, shape);
        if sweep.broken.len() == invariants.len() {
            break;
        }
    }
    sweep.found
}

/// The part of a request the outer loops pick.
#[derive(Debug, Clone, Copy)]
struct Shape<'a> {
    action: &'a str,
    method: &'a str,
    role: Option<Role>,
    status: WorkspaceStatus,
    who: Who,
}

/// A sweep over the space: what it found so far.
struct Sweep<'a> {
    engine: &'a PolicyEngine,
    invariants: &'a InvariantSet,
    broken: HashSet<String>,
    found: Vec<Violation>,
}

impl Sweep<'_> {
    /// Every request of `shape` (over resource, grants, path and plan).
    fn shape(&mut self, space: &Space, shape: Shape<'_>) {
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
        // The workspace itself, a project in it, and an archived one.
        for (project_id, archived) in [(None, false), (Some(PROJECT), false), (Some(PROJECT), true)]
        {
            // The key and the project: the same for every request below.
            let shared = DecisionRequest {
                project_archived: archived,
                principal,
                action: shape.action,
                workspace_id: WORKSPACE,
                project_id,
                granted_projects: None,
                role: shape.role,
                workspace_status: shape.status,
                email_verified: true,
                plan: DEFAULT_PLAN,
                method: shape.method,
                path: PLAIN_PATH,
                sign_in: sign_in_of(shape.who),
            };
            let Ok(entities) = self.engine.entities_of(&shared) else {
                continue;
            };
            for granted_projects in [None, Some(&granted[..]), Some(&not_granted[..])] {
                if project_id.is_none()
                    && granted_projects == Some(&not_granted[..])
                    && !space.names_entities
                {
                    continue;
                }
                for path in &space.paths {
                    for plan in &space.plans {
                        self.sample(
                            &DecisionRequest {
                                project_archived: archived,
                                principal,
                                action: shape.action,
                                workspace_id: WORKSPACE,
                                project_id,
                                granted_projects,
                                role: shape.role,
                                workspace_status: shape.status,
                                email_verified: true,
                                plan,
                                method: shape.method,
                                path,
                                sign_in: sign_in_of(shape.who),
                            },
                            &entities,
                            shape.who,
                        );
                    }
                }
            }
        }
    }

    /// Decide one request: note the invariants it breaks.
    fn sample(&mut self, request: &DecisionRequest<'_>, entities: &Entities, who: Who) {
        let (engine, invariants) = (self.engine, self.invariants);
        // Afresh: a sweep's requests never recur, so the memo is neither
        // read nor filled.
        let Ok((matched, Some(decision))) =
            engine.matching(invariants.policy_set(), request, entities)
        else {
            return;
        };
        let at_stake = matched
            .iter()
            .filter_map(|id| invariants.get(id))
            .filter(|i| !self.broken.contains(&i.name))
            .collect::<Vec<_>>();
        for invariant in at_stake {
            let kept = match invariant.kind {
                Kind::MustDeny => !decision.allowed,
                Kind::MustAllow => decision.allowed,
            };
            if kept {
                continue;
            }
            self.broken.insert(invariant.name.clone());
            self.found.push(Violation {
                invariant: invariant.name.clone(),
                kind: invariant.kind,
                origin: invariant.origin.clone(),
                request: describe(request, who),
                allowed: decision.allowed,
                policies: named_policies(engine, &decision.policies),
            });
        }
    }
}

/// How the sampled requests were signed in: a key as keys are, a session
/// fresh, by password, in a workspace without a sign-in policy (the space
/// samples no sign-in policy; the proofs cover every one).
fn sign_in_of(who: Who) -> SignIn<'static> {
    match who {
        Who::User => SignIn::UNRESTRICTED,
        Who::OwnKey | Who::OtherKey => SignIn::API_KEY,
    }
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
        Some(p) if request.project_archived => {
            format!(
                "archived project `{p}` of workspace `{}`",
                request.workspace_id
            )
        }
        Some(p) => format!("project `{p}` of workspace `{}`", request.workspace_id),
    };
    let grants = match request.granted_projects {
        None => String::new(),
        Some(projects) => format!(", limited to projects {projects:?}"),
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

#[cfg(test)]
#[path = "invariants_tests.rs"]
mod tests;
