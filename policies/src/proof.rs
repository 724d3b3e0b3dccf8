//! Proving a policy set on load, over every request Cedar could be asked:
//! for each request environment of the schema (principal type × action ×
//! resource type), every `must_deny` invariant allows nothing the policies
//! allow (disjoint), every `must_allow` one allows nothing they deny
//! (implied), and no policy can fail to evaluate. Cedar is compiled to
//! SMT-LIB (cedar-policy-symcc) and cvc5 decides; a refutation carries the
//! request that shows it, decided by the engine to name the policies.

use crate::counterexample::{Counterexample, decision_in_words};
use crate::engine::{Decision, PolicyEngine};
use crate::invariant_set::{Invariant, InvariantSet, Kind};
use crate::load::Origin;
use crate::prover::{Prover, compile_one, compile_set};
use crate::solver::{ProofSettings, block_on};
use cedar_policy::{Policy, PolicySet, RequestEnv};
use cedar_policy_symcc::CompiledPolicySet;
use std::fmt;
use std::time::Instant;

pub use crate::proof_status::ProofStatus;
pub use crate::prover::{ProofError, environment_name, environments};

/// A property the solver refuted, with the request that shows it.
#[derive(Debug, Clone)]
pub enum Refutation {
    /// An invariant does not hold: the counterexample is matched by it and
    /// allowed (`must_deny`) or denied (`must_allow`) by the policies.
    Broken {
        invariant: Box<Invariant>,
        environment: String,
        counterexample: Counterexample,
        /// How the engine decides the counterexample.
        decision: Decision,
        /// The decision in words, naming the policies.
        why: String,
    },
    /// A policy can fail to evaluate (an error denies the request).
    CanError {
        policy: String,
        origin: Option<Origin>,
        environment: String,
        counterexample: Counterexample,
        why: String,
    },
}

impl fmt::Display for Refutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refutation::Broken {
                invariant,
                environment,
                counterexample,
                why,
                ..
            } => write!(
                f,
                "invariant broken: {} ({}:{}, {}): proven false over {environment}; \
                 counterexample: {counterexample}; the policies in force: {why}",
                invariant.name, invariant.origin.file, invariant.origin.line, invariant.kind
            ),
            Refutation::CanError {
                policy,
                origin,
                environment,
                counterexample,
                why,
            } => {
                let at = origin
                    .as_ref()
                    .map_or(String::new(), |o| format!(" ({}:{})", o.file, o.line));
                write!(
                    f,
                    "policy `{policy}`{at} can fail to evaluate over {environment} (an error \
                     denies the request); counterexample: {counterexample}; {why}"
                )
            }
        }
    }
}

/// What the proofs found.
#[derive(Debug, Clone)]
pub struct Proof {
    pub status: ProofStatus,
    pub refutations: Vec<Refutation>,
}

/// Prove every invariant and that no policy errs. Without a solver the
/// status says proofs are off (and why); a solver that fails or gives no
/// answer in time is an error.
pub fn prove(
    engine: &PolicyEngine,
    invariants: &InvariantSet,
    settings: &ProofSettings,
) -> Result<Proof, ProofError> {
    let program = settings.program();
    let solver_error = |message: String| ProofError::Solver {
        solver: program.to_string(),
        what: "starting".to_string(),
        message,
    };
    let started = Instant::now();
    let outcome = block_on(async {
        let solver = match settings.spawn() {
            Ok(solver) => solver,
            Err(reason) => {
                return Ok(Proof {
                    status: ProofStatus::Off { reason },
                    refutations: Vec::new(),
                });
            }
        };
        let mut prover = Prover::new(solver, settings, program.clone())?;
        let result = prover.prove(engine, invariants).await;
        prover.stop().await;
        let refutations = result?;
        Ok(Proof {
            status: ProofStatus::Proven {
                solver: program.to_string(),
                invariants: invariants.len(),
                policies: engine.policy_count(),
                environments: engine.schema().request_envs().count(),
                elapsed: started.elapsed(),
            },
            refutations,
        })
    });
    outcome.map_err(|e| solver_error(e.to_string()))?
}

/// The invariants of one kind as a set of their own (none: `None`).
fn of_kind(invariants: &InvariantSet, kind: Kind) -> Result<Option<PolicySet>, ProofError> {
    let policies: Vec<Policy> = invariants
        .iter()
        .filter(|i| i.kind == kind)
        .map(|i| i.policy.clone())
        .collect();
    if policies.is_empty() {
        return Ok(None);
    }
    PolicySet::from_policies(policies)
        .map(Some)
        .map_err(|e| ProofError::Compile {
            what: format!("the {kind} invariants"),
            message: e.to_string(),
        })
}

/// The proving strategy, over a solver session.
impl Prover {
    /// Every refutation: for each broken invariant the simplest
    /// counterexample found (the fewest entities to read), and the first of
    /// each policy that can err.
    async fn prove(
        &mut self,
        engine: &PolicyEngine,
        invariants: &InvariantSet,
    ) -> Result<Vec<Refutation>, ProofError> {
        let live = engine.policy_set();
        let kinds = [
            (Kind::MustDeny, of_kind(invariants, Kind::MustDeny)?),
            (Kind::MustAllow, of_kind(invariants, Kind::MustAllow)?),
        ];
        let mut broken = Broken::default();
        let mut erring: Vec<Refutation> = Vec::new();
        for (name, env) in environments(engine.schema()) {
            let policies = compile_set(live, &env, engine.schema(), || {
                format!("the policies in force over {name}")
            })?;
            for (kind, set) in &kinds {
                let Some(set) = set else { continue };
                // All of a kind at once: when that holds, each does.
                let what = || format!("the {kind} invariants over {name}");
                let all = compile_set(set, &env, engine.schema(), what)?;
                let refuted = match kind {
                    Kind::MustDeny => self.disjoint(&policies, &all, what).await?,
                    Kind::MustAllow => self.implies(&all, &policies, what).await?,
                };
                if refuted.is_some() {
                    for invariant in invariants.iter().filter(|i| i.kind == *kind) {
                        if !broken.settled(&invariant.name) {
                            self.invariant(engine, invariant, &env, &name, &policies, &mut broken)
                                .await?;
                        }
                    }
                }
            }
            let mut in_order: Vec<&Policy> = live.policies().collect();
            in_order.sort_by_key(|p| p.id().to_string());
            for policy in in_order {
                let id = policy.id().to_string();
                let known = erring
                    .iter()
                    .any(|r| matches!(r, Refutation::CanError { policy, .. } if *policy == id));
                if !known && let Some(r) = self.can_error(engine, policy, &env, &name).await? {
                    erring.push(r);
                }
            }
        }
        let mut found = broken.found;
        found.extend(erring);
        Ok(found)
    }

    /// Prove one invariant over one environment; note a counterexample.
    async fn invariant(
        &mut self,
        engine: &PolicyEngine,
        invariant: &Invariant,
        env: &RequestEnv,
        name: &str,
        policies: &CompiledPolicySet,
        broken: &mut Broken,
    ) -> Result<(), ProofError> {
        let what = || format!("invariant `{}` over {name}", invariant.name);
        let one = compile_one(&invariant.policy, env, engine, what)?.into_compiled_policyset();
        let counterexample = match invariant.kind {
            Kind::MustDeny => self.disjoint(policies, &one, what).await?,
            Kind::MustAllow => self.implies(&one, policies, what).await?,
        };
        let Some(counterexample) = counterexample else {
            return Ok(());
        };
        let decision = counterexample.decide(engine);
        let mut why = decision_in_words(engine, &decision);
        if decision.allowed == (invariant.kind == Kind::MustAllow) {
            why.push_str(
                " — yet the solver found it breaks the invariant: the solver and the engine \
                 disagree",
            );
        }
        broken.note(Refutation::Broken {
            invariant: Box::new(invariant.clone()),
            environment: name.to_string(),
            counterexample,
            decision,
            why,
        });
        Ok(())
    }

    /// Whether `policy` can fail to evaluate over one environment.
    async fn can_error(
        &mut self,
        engine: &PolicyEngine,
        policy: &Policy,
        env: &RequestEnv,
        name: &str,
    ) -> Result<Option<Refutation>, ProofError> {
        let id = policy.id().to_string();
        let what = || format!("policy `{id}` over {name}");
        let compiled = compile_one(policy, env, engine, what)?;
        let Some(counterexample) = self.never_errors(&compiled, what).await? else {
            return Ok(None);
        };
        let decision = counterexample.decide(engine);
        let why = if decision.errors.is_empty() {
            "the engine evaluates it without error: the solver and the engine disagree".to_string()
        } else {
            format!("the engine says: {}", decision.errors.join("; "))
        };
        Ok(Some(Refutation::CanError {
            origin: engine.origin(&id).cloned(),
            policy: id,
            environment: name.to_string(),
            counterexample,
            why,
        }))
    }
}

/// The broken invariants found so far, each with its simplest counterexample.
#[derive(Default)]
struct Broken {
    found: Vec<Refutation>,
}

impl Broken {
    /// How much of a counterexample there is to read: its entities.
    fn weight(refutation: &Refutation) -> usize {
        match refutation {
            Refutation::Broken { counterexample, .. }
            | Refutation::CanError { counterexample, .. } => {
                counterexample.entities_in_words().len()
            }
        }
    }

    fn name(refutation: &Refutation) -> Option<&str> {
        match refutation {
            Refutation::Broken { invariant, .. } => Some(&invariant.name),
            Refutation::CanError { .. } => None,
        }
    }

    /// Whether `name`'s counterexample cannot get simpler.
    fn settled(&self, name: &str) -> bool {
        self.found
            .iter()
            .any(|r| Self::name(r) == Some(name) && Self::weight(r) == 0)
    }

    /// Keep `refutation` if it is its invariant's first or simplest.
    fn note(&mut self, refutation: Refutation) {
        let name = Self::name(&refutation).map(str::to_string);
        match self
            .found
            .iter_mut()
            .find(|r| Self::name(r).map(str::to_string) == name)
        {
            Some(known) if Self::weight(&refutation) < Self::weight(known) => *known = refutation,
            Some(_) => {}
            None => self.found.push(refutation),
        }
    }
}

#[cfg(test)]
#[path = "proof_tests.rs"]
mod tests;
