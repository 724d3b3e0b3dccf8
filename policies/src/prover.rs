//! A solver session: Cedar policy sets compiled to SMT for one request
//! environment (cedar-policy-symcc), and the questions the proofs and the
//! diff ask of cvc5 about them (implies, disjoint, always denies, never
//! errors), each bounded by the time limit; with the request environments
//! they are asked over, and the error when no answer comes.

use crate::counterexample::Counterexample;
use crate::engine::PolicyEngine;
use crate::solver::{ProofSettings, SolverProgram, error_chain};
use cedar_policy::{Policy, PolicySet, RequestEnv, Schema};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet};
use std::time::Duration;

/// The proofs could not be made: the set is refused rather than served unproven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error(
        "policy proofs: the solver {solver} gave no answer within {} ms ({what}); the set \
         is refused unproven (raise [policies] solver_timeout_ms if the solver is only slow)",
        .timeout.as_millis()
    )]
    Timeout {
        solver: String,
        timeout: Duration,
        what: String,
    },
    #[error(
        "policy proofs: the solver {solver} failed ({what}): {message}; the set is refused unproven"
    )]
    Solver {
        solver: String,
        what: String,
        message: String,
    },
    #[error("policy proofs: {what} cannot be compiled for the solver: {message}")]
    Compile { what: String, message: String },
}

/// A request environment in words: `User × write × Workspace`.
pub fn environment_name(env: &RequestEnv) -> String {
    format!(
        "{} × {} × {}",
        env.principal().basename(),
        env.action().id().unescaped(),
        env.resource().basename()
    )
}

/// The request environments of `schema`, named, in the order of their names.
pub fn environments(schema: &Schema) -> Vec<(String, RequestEnv)> {
    let mut all: Vec<(String, RequestEnv)> = schema
        .request_envs()
        .map(|env| (environment_name(&env), env))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// A solver session and its limits.
pub(crate) struct Prover {
    compiler: CedarSymCompiler<LocalSolver>,
    timeout: Duration,
    program: SolverProgram,
}

/// Compile `set` for `env` of `schema`, naming `what` on failure.
pub(crate) fn compile_set(
    set: &PolicySet,
    env: &RequestEnv,
    schema: &Schema,
    what: impl Fn() -> String,
) -> Result<CompiledPolicySet, ProofError> {
    CompiledPolicySet::compile(set, env, schema).map_err(|e| ProofError::Compile {
        what: what(),
        message: error_chain(&e),
    })
}

pub(crate) fn compile_one(
    policy: &Policy,
    env: &RequestEnv,
    engine: &PolicyEngine,
    what: impl Fn() -> String,
) -> Result<CompiledPolicy, ProofError> {
    CompiledPolicy::compile(policy, env, engine.schema()).map_err(|e| ProofError::Compile {
        what: what(),
        message: error_chain(&e),
    })
}

impl Prover {
    pub(crate) fn new(
        solver: LocalSolver,
        settings: &ProofSettings,
        program: SolverProgram,
    ) -> Result<Self, ProofError> {
        let compiler = CedarSymCompiler::new(solver).map_err(|e| ProofError::Solver {
            solver: program.to_string(),
            what: "starting".to_string(),
            message: error_chain(&e),
        })?;
        Ok(Prover {
            compiler,
            timeout: settings.timeout,
            program,
        })
    }

    /// Whether `set` denies every request; if not, one it allows.
    pub(crate) async fn always_denies(
        &mut self,
        set: &CompiledPolicySet,
        what: impl Fn() -> String,
    ) -> Result<Option<Counterexample>, ProofError> {
        let asked = tokio::time::timeout(
            self.timeout,
            self.compiler
                .check_always_denies_with_counterexample_opt(set),
        )
        .await;
        Ok(self.answer(asked, what)?.map(Counterexample::from))
    }

    /// End the solver process (and wait for it).
    pub(crate) async fn stop(&mut self) {
        let _ = self.compiler.solver_mut().clean_up().await;
    }

    /// The answer to a query, or why there is none.
    fn answer<T>(
        &self,
        asked: Result<cedar_policy_symcc::err::Result<T>, tokio::time::error::Elapsed>,
        what: impl Fn() -> String,
    ) -> Result<T, ProofError> {
        match asked {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(ProofError::Solver {
                solver: self.program.to_string(),
                what: what(),
                message: error_chain(&e),
            }),
            Err(_) => Err(ProofError::Timeout {
                solver: self.program.to_string(),
                timeout: self.timeout,
                what: what(),
            }),
        }
    }

    /// Whether `first` allows only what `second` allows; if not, a request
    /// `first` allows and `second` denies.
    pub(crate) async fn implies(
        &mut self,
        first: &CompiledPolicySet,
        second: &CompiledPolicySet,
        what: impl Fn() -> String,
    ) -> Result<Option<Counterexample>, ProofError> {
        let asked = tokio::time::timeout(
            self.timeout,
            self.compiler
                .check_implies_with_counterexample_opt(first, second),
        )
        .await;
        Ok(self.answer(asked, what)?.map(Counterexample::from))
    }

    pub(crate) async fn disjoint(
        &mut self,
        first: &CompiledPolicySet,
        second: &CompiledPolicySet,
        what: impl Fn() -> String,
    ) -> Result<Option<Counterexample>, ProofError> {
        let asked = tokio::time::timeout(
            self.timeout,
            self.compiler
                .check_disjoint_with_counterexample_opt(first, second),
        )
        .await;
        Ok(self.answer(asked, what)?.map(Counterexample::from))
    }

    pub(crate) async fn never_errors(
        &mut self,
        policy: &CompiledPolicy,
        what: impl Fn() -> String,
    ) -> Result<Option<Counterexample>, ProofError> {
        let asked = tokio::time::timeout(
            self.timeout,
            self.compiler
                .check_never_errors_with_counterexample_opt(policy),
        )
        .await;
        Ok(self.answer(asked, what)?.map(Counterexample::from))
    }
}
