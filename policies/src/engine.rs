//! The decision engine: one parsed, validated policy set and the call that decides.

use crate::load::{self, Loaded, Origin, PolicyErrors, PolicySource};
use crate::memo::{self, Memo, Outcome};
use crate::model::WorkspaceStatus;
use crate::reads::Reads;
use cedar_policy::{
    ActionConstraint, Authorizer, EntityTypeName, EntityUid, PolicyId, PolicySet,
    PrincipalConstraint, ResourceConstraint,
};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

pub use crate::request::{DecisionRequest, Principal};

/// The Cedar namespace of the schema.
pub const NAMESPACE: &str = "WRNexus";

/// The outcome, with what explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Unique per decision, minted when first read (denials carry it to
    /// the client; most allows are never asked for theirs).
    id: OnceLock<String>,
    pub allowed: bool,
    /// The policies that determined the outcome (the permits of an allow,
    /// the forbids of an explicit deny; empty for a default deny). Shared
    /// with the memo's copy.
    pub policies: Arc<[String]>,
    /// Evaluation errors; any error fails closed.
    pub errors: Vec<String>,
    /// The problem code a determining forbid names with `@code`, if any.
    pub code: Option<String>,
}

impl Decision {
    /// A refusal for a request that could not be evaluated.
    pub fn failed(error: String) -> Self {
        Decision {
            id: OnceLock::new(),
            allowed: false,
            policies: Arc::from([]),
            errors: vec![error],
            code: None,
        }
    }

    /// This decision's id (a UUIDv7, the same at every read).
    pub fn id(&self) -> &str {
        self.id.get_or_init(crate::ids::new_id)
    }
}

/// What is prepared, at load, for one action and one pair of principal and
/// resource types, so that deciding does no work that cannot vary.
#[derive(Debug)]
struct Plan {
    /// The policies whose scope can match such a request; the others can
    /// neither be satisfied nor err, so leaving them out changes nothing.
    policies: PolicySet,
    /// Whether requests of this shape pass the schema's request validation
    /// whatever their ids and strings (checked with probe values at load).
    /// When not, each request is validated, and refused, as before.
    prevalidated: bool,
}

/// An action's uid and its plans, indexed by [`plan_index`].
#[derive(Debug)]
struct ActionPlans {
    uid: EntityUid,
    plans: [Plan; 4],
}

/// `principal_is_key`, `resource_is_project` → index into [`ActionPlans::plans`].
fn plan_index(principal_is_key: bool, resource_is_project: bool) -> usize {
    usize::from(principal_is_key) * 2 + usize::from(resource_is_project)
}

/// Parsed, validated policies, ready to decide. Immutable: a reload builds
/// a new engine and swaps it in whole.
#[derive(Debug)]
pub struct PolicyEngine {
    loaded: Loaded,
    authorizer: Authorizer,
    user_type: EntityTypeName,
    key_type: EntityTypeName,
    workspace_type: EntityTypeName,
    project_type: EntityTypeName,
    actions: HashMap<String, ActionPlans>,
    source: PolicySource,
    /// What the policies read of a request: the memo's key.
    reads: Reads,
    memo: Memo,
    /// How the proofs of its load went (`None`: loaded without them).
    proofs: Option<crate::proof_status::ProofStatus>,
}

impl PolicyEngine {
    /// Load, parse and strictly validate the policies of `source`.
    pub fn load(source: &PolicySource) -> Result<Self, PolicyErrors> {
        let loaded = load::load(source)?;
        let type_name = |name: &str| {
            EntityTypeName::from_str(&format!("{NAMESPACE}::{name}")).map_err(|e| {
                PolicyErrors(vec![load::PolicyError::Schema {
                    file: load::SCHEMA_FILE.to_string(),
                    line: 1,
                    message: e.to_string(),
                }])
            })
        };
        let action_type = type_name("Action")?;
        let mut engine = PolicyEngine {
            user_type: type_name("User")?,
            key_type: type_name("ApiKey")?,
            workspace_type: type_name("Workspace")?,
            project_type: type_name("Project")?,
            authorizer: Authorizer::new(),
            actions: HashMap::new(),
            loaded,
            source: source.clone(),
            reads: Reads::everything(),
            memo: Memo::default(),
            proofs: None,
        };
        engine.reads = Reads::of(&engine.loaded.policies);
        let uids: Vec<EntityUid> = engine
            .loaded
            .schema
            .actions()
            .filter(|a| a.type_name() == &action_type)
            .cloned()
            .collect();
        for uid in uids {
            let plans = [false, true]
                .map(|key| [false, true].map(|project| engine.plan(&uid, key, project)));
            let [[user_ws, user_project], [key_ws, key_project]] = plans;
            engine.actions.insert(
                uid.id().unescaped().to_string(),
                ActionPlans {
                    uid,
                    plans: [user_ws, user_project, key_ws, key_project],
                },
            );
        }
        Ok(engine)
    }

    /// Prepare the decisions of `action` for one principal and resource type.
    fn plan(&self, action: &EntityUid, principal_is_key: bool, resource_is_project: bool) -> Plan {
        let principal_type = if principal_is_key {
            &self.key_type
        } else {
            &self.user_type
        };
        let resource_type = if resource_is_project {
            &self.project_type
        } else {
            &self.workspace_type
        };
        let policies = if self.loaded.policies.templates().next().is_some() {
            // Template links: keep everything rather than reason about them.
            self.loaded.policies.clone()
        } else {
            let in_scope = self.loaded.policies.policies().filter(|p| {
                let principal = match p.principal_constraint() {
                    PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => {
                        t == *principal_type
                    }
                    PrincipalConstraint::Eq(uid) => uid.type_name() == principal_type,
                    PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
                };
                let resource = match p.resource_constraint() {
                    ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => {
                        t == *resource_type
                    }
                    ResourceConstraint::Eq(uid) => uid.type_name() == resource_type,
                    ResourceConstraint::Any | ResourceConstraint::In(_) => true,
                };
                let action_matches = match p.action_constraint() {
                    ActionConstraint::Eq(uid) => uid == *action,
                    ActionConstraint::Any | ActionConstraint::In(_) => true,
                };
                principal && resource && action_matches
            });
            PolicySet::from_policies(in_scope.cloned())
                .unwrap_or_else(|_| self.loaded.policies.clone())
        };
        // Probe ids and strings no schema could list: if these pass, any pass
        // (request validation only looks at values for enumerated types).
        let probe = "wrnexus-probe\u{1}";
        let granted = [probe.to_string()];
        let request = DecisionRequest {
            project_archived: false,
            principal: if principal_is_key {
                Principal::ApiKey {
                    id: probe,
                    workspace_id: probe,
                }
            } else {
                Principal::User(probe)
            },
            action: "",
            workspace_id: probe,
            project_id: resource_is_project.then_some(probe),
            granted_projects: Some(&granted),
            role: None,
            workspace_status: WorkspaceStatus::Active,
            email_verified: true,
            plan: probe,
            method: probe,
            path: probe,
            sign_in: crate::sign_in::SignIn {
                method: probe,
                sso_workspace_id: Some(probe),
                ..crate::sign_in::SignIn::UNRESTRICTED
            },
        };
        let prevalidated = self
            .request(&request, action.clone(), Some(&self.loaded.schema))
            .is_ok();
        Plan {
            policies,
            prevalidated,
        }
    }

    /// How the proofs of this set's load went: `None` when it was loaded
    /// without its checks ([`crate::reload::load_checked`] runs them).
    pub fn proofs(&self) -> Option<&crate::proof_status::ProofStatus> {
        self.proofs.as_ref()
    }

    pub(crate) fn set_proofs(&mut self, status: crate::proof_status::ProofStatus) {
        self.proofs = Some(status);
    }

    /// The shipped policies, compiled into the binary.
    pub fn shipped() -> Result<Self, PolicyErrors> {
        Self::load(&PolicySource::Shipped)
    }

    pub fn source(&self) -> &PolicySource {
        &self.source
    }

    /// How many policies are in force.
    pub fn policy_count(&self) -> usize {
        self.loaded.policies.policies().count()
    }

    /// The actions declared in the schema.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }

    /// Whether `action` is declared in the schema.
    pub fn knows_action(&self, action: &str) -> bool {
        self.actions.contains_key(action)
    }

    /// A policy's text, as parsed.
    pub fn policy_text(&self, id: &str) -> Option<String> {
        self.loaded
            .policies
            .policy(&PolicyId::new(id))
            .map(ToString::to_string)
    }

    /// What the policies read of a request (and so what the memo keys on).
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// Where a policy was written.
    pub fn origin(&self, id: &str) -> Option<&Origin> {
        self.loaded.origins.get(&PolicyId::new(id))
    }

    /// The policies in force, as parsed.
    pub fn policy_set(&self) -> &PolicySet {
        &self.loaded.policies
    }

    /// Decide. Never fails: any problem building or evaluating the request
    /// is a deny carrying the error. A request whose inputs (as far as the
    /// policies read them) were decided before is answered from the memo.
    pub fn decide(&self, req: &DecisionRequest<'_>) -> Decision {
        // A miss keeps a copy of the key it looked up, to remember the answer.
        let known = memo::with_buffer(|key| {
            memo::encode(key, req, &self.reads);
            self.memo.get(key).ok_or_else(|| key.clone())
        });
        let key = match known {
            Ok(known) => {
                return Decision {
                    id: OnceLock::new(),
                    allowed: known.allowed,
                    policies: known.policies.clone(),
                    errors: Vec::new(),
                    code: known.code.clone(),
                };
            }
            Err(key) => key,
        };
        let decision = self.decide_fresh(req);
        if decision.errors.is_empty() {
            self.memo.put(
                key,
                Outcome {
                    allowed: decision.allowed,
                    policies: Arc::clone(&decision.policies),
                    code: decision.code.clone(),
                },
            );
        }
        decision
    }

    /// Decide by evaluating the policies, without the memo (neither read nor
    /// filled): for sweeps over requests that never recur, such as the
    /// invariant check of every load, and for measuring evaluation.
    pub fn decide_fresh(&self, req: &DecisionRequest<'_>) -> Decision {
        match self.evaluate(req) {
            Ok((allowed, policies, errors)) => self.decision(allowed, policies, errors),
            Err(error) => Decision::failed(error),
        }
    }

    /// A decision from what was evaluated: an error denies, and a denial
    /// carries the `@code` of the first determining policy that has one.
    pub(crate) fn decision(
        &self,
        allowed: bool,
        policies: Vec<String>,
        errors: Vec<String>,
    ) -> Decision {
        let code = if allowed {
            None
        } else {
            policies
                .iter()
                .find_map(|p| self.loaded.codes.get(&PolicyId::new(p.as_str())))
                .cloned()
        };
        Decision {
            id: OnceLock::new(),
            allowed: allowed && errors.is_empty(),
            policies: policies.into(),
            errors,
            code,
        }
    }

    fn evaluate(
        &self,
        req: &DecisionRequest<'_>,
    ) -> Result<(bool, Vec<String>, Vec<String>), String> {
        let plans = self
            .actions
            .get(req.action)
            .ok_or_else(|| format!("unknown action `{}`", req.action))?;
        let plan = &plans.plans[plan_index(
            matches!(req.principal, Principal::ApiKey { .. }),
            req.project_id.is_some(),
        )];
        let schema = (!plan.prevalidated).then_some(&self.loaded.schema);
        let (request, entities) = self.request(req, plans.uid.clone(), schema)?;
        let response = self
            .authorizer
            .is_authorized(&request, &plan.policies, &entities);
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        let mut policies: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|p| p.to_string())
            .collect();
        policies.sort();
        let errors = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        Ok((allowed, policies, errors))
    }
}

#[path = "engine_cedar.rs"]
mod cedar;
#[path = "engine_sets.rs"]
mod sets;

pub use cedar::PROJECT_ARCHIVED;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
