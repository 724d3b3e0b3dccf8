//! Deciding with other policies than the engine's, or other requests than
//! the gateway builds: the invariants' policies over a sampled request (as
//! [`PolicyEngine::decide`] would build it), and the policies in force over
//! a counterexample the solver found (any entities the schema allows).

use super::{Decision, PolicyEngine, plan_index};
use crate::request::{DecisionRequest, Principal};
use cedar_policy::{Entities, PolicySet, Request, Response, Schema};

impl PolicyEngine {
    /// The schema the policies validate against.
    pub fn schema(&self) -> &Schema {
        &self.loaded.schema
    }

    /// The entities `req` is decided with (its key, its project): shared by
    /// requests of the same principal and resource, so a sweep builds them
    /// once for [`Self::matching`].
    pub fn entities_of(&self, req: &DecisionRequest<'_>) -> Result<Entities, String> {
        self.entities(req)
    }

    /// The policies of `set` that `req` satisfies, decided with `entities`
    /// (those of [`Self::entities_of`]) as [`Self::decide`] decides, and
    /// when some is, the decision of the policies in force (afresh: neither
    /// read from the memo nor put there). Meant for sets of `permit`s only
    /// (such as the invariants'): Cedar names the satisfied permits when it
    /// allows. A policy that errs matches nothing.
    pub fn matching(
        &self,
        set: &PolicySet,
        req: &DecisionRequest<'_>,
        entities: &Entities,
    ) -> Result<(Vec<String>, Option<Decision>), String> {
        let plans = self
            .actions
            .get(req.action)
            .ok_or_else(|| format!("unknown action `{}`", req.action))?;
        let plan = &plans.plans[plan_index(
            matches!(req.principal, Principal::ApiKey { .. }),
            req.project_id.is_some(),
        )];
        let schema = (!plan.prevalidated).then_some(&self.loaded.schema);
        let request = self.cedar_request(req, plans.uid.clone(), schema)?;
        let matched: Vec<String> = self
            .authorizer
            .is_authorized(&request, set, entities)
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        if matched.is_empty() {
            return Ok((matched, None));
        }
        let response = self
            .authorizer
            .is_authorized(&request, &plan.policies, entities);
        Ok((matched, Some(self.decision_of(&response))))
    }

    /// Decide a Cedar request with its entities, as given, by every policy
    /// in force: how the engine decides a counterexample. Like every
    /// decision, an evaluation error denies.
    pub fn decide_cedar(&self, request: &Request, entities: &Entities) -> Decision {
        let response = self
            .authorizer
            .is_authorized(request, &self.loaded.policies, entities);
        self.decision_of(&response)
    }

    /// A Cedar response as a decision: an evaluation error denies.
    fn decision_of(&self, response: &Response) -> Decision {
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        let mut policies: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        policies.sort();
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        self.decision(allowed, policies, errors)
    }
}
