//! What an edit changes, proven: for every request environment of the new
//! schema, whether the new set allows exactly what the old one did
//! (equivalent), only less (narrows), only more (widens), or both — each
//! direction with a request that shows it, decided by both sets. An
//! environment only the old schema has is one whose requests the new set
//! refuses.

use crate::counterexample::{Counterexample, decision_in_words};
use crate::engine::PolicyEngine;
use crate::prover::{ProofError, Prover, compile_set, environments};
use crate::solver::{ProofSettings, block_on};
use std::fmt;
use std::time::{Duration, Instant};

/// How an edit changes the decisions of one environment (or of all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Equivalent,
    /// Some requests newly denied, none newly allowed.
    Narrows,
    /// Some requests newly allowed, none newly denied.
    Widens,
    /// Some of each.
    Both,
}

impl Change {
    fn of(newly_denied: bool, newly_allowed: bool) -> Change {
        match (newly_denied, newly_allowed) {
            (false, false) => Change::Equivalent,
            (true, false) => Change::Narrows,
            (false, true) => Change::Widens,
            (true, true) => Change::Both,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Equivalent => "equivalent",
            Change::Narrows => "narrows",
            Change::Widens => "widens",
            Change::Both => "narrows and widens",
        })
    }
}

/// A request the two sets decide differently, and how each decides it.
#[derive(Debug, Clone)]
pub struct Difference {
    pub counterexample: Counterexample,
    /// The old set's decision, in words.
    pub old: String,
    /// The new set's decision, in words.
    pub new: String,
}

/// The change in one request environment.
#[derive(Debug, Clone)]
pub struct EnvironmentDiff {
    /// `User × write × Workspace`.
    pub environment: String,
    pub change: Change,
    /// Allowed by the old set, denied by the new.
    pub newly_denied: Option<Difference>,
    /// Denied by the old set, allowed by the new.
    pub newly_allowed: Option<Difference>,
    /// Only the old schema has this environment.
    pub removed: bool,
}

/// The change an edit makes, environment by environment.
#[derive(Debug, Clone)]
pub struct Diff {
    pub environments: Vec<EnvironmentDiff>,
    /// The solver, and how long the proofs took.
    pub solver: String,
    pub elapsed: Duration,
}

impl Diff {
    /// The change over every environment.
    pub fn change(&self) -> Change {
        Change::of(
            self.environments.iter().any(|e| e.newly_denied.is_some()),
            self.environments.iter().any(|e| e.newly_allowed.is_some()),
        )
    }
}

/// Why there is no diff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// Diffs are proofs: they need the solver.
    #[error("policy diff needs the solver: {0}")]
    NoSolver(String),
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The old policies do not compile against the new schema.
    #[error("the old policies cannot be compared over the new schema's {environment}: {message}")]
    Incomparable {
        environment: String,
        message: String,
    },
}

/// How `new` changes the decisions of `old`.
pub fn diff(
    old: &PolicyEngine,
    new: &PolicyEngine,
    settings: &ProofSettings,
) -> Result<Diff, DiffError> {
    let program = settings.program();
    let started = Instant::now();
    let environments = block_on(async {
        let solver = settings.spawn().map_err(DiffError::NoSolver)?;
        let mut prover = Prover::new(solver, settings, program.clone())?;
        let result = compare(&mut prover, old, new).await;
        prover.stop().await;
        result
    })
    .map_err(|e| DiffError::NoSolver(format!("cannot run the solver: {e}")))??;
    Ok(Diff {
        environments,
        solver: program.to_string(),
        elapsed: started.elapsed(),
    })
}

async fn compare(
    prover: &mut Prover,
    old: &PolicyEngine,
    new: &PolicyEngine,
) -> Result<Vec<EnvironmentDiff>, DiffError> {
    let difference = |counterexample: Counterexample| Difference {
        old: decision_in_words(old, &counterexample.decide(old)),
        new: decision_in_words(new, &counterexample.decide(new)),
        counterexample,
    };
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for (name, env) in environments(new.schema()) {
        seen.push(name.clone());
        let what = || format!("the new policies over {name}");
        let new_set = compile_set(new.policy_set(), &env, new.schema(), what)?;
        let old_set = compile_set(old.policy_set(), &env, new.schema(), || {
            format!("the old policies over {name}")
        })
        .map_err(|e| DiffError::Incomparable {
            environment: name.clone(),
            message: match e {
                ProofError::Compile { message, .. } => message,
                other => other.to_string(),
            },
        })?;
        let what = || format!("comparing the policies over {name}");
        let newly_denied = prover.implies(&old_set, &new_set, what).await?;
        let newly_allowed = prover.implies(&new_set, &old_set, what).await?;
        found.push(EnvironmentDiff {
            change: Change::of(newly_denied.is_some(), newly_allowed.is_some()),
            environment: name,
            newly_denied: newly_denied.map(difference),
            newly_allowed: newly_allowed.map(difference),
            removed: false,
        });
    }
    for (name, env) in environments(old.schema()) {
        if seen.contains(&name) {
            continue;
        }
        let what = || format!("the old policies over {name}");
        let old_set = compile_set(old.policy_set(), &env, old.schema(), what)?;
        let allowed = prover.always_denies(&old_set, what).await?;
        found.push(EnvironmentDiff {
            change: Change::of(allowed.is_some(), false),
            environment: name,
            newly_denied: allowed.map(|counterexample| Difference {
                old: decision_in_words(old, &counterexample.decide(old)),
                new: "denied: the new schema does not declare this request".to_string(),
                counterexample,
            }),
            newly_allowed: None,
            removed: true,
        });
    }
    Ok(found)
}
