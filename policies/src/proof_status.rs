//! How a policy set's proofs went (proven, or off and why), as `/ready`,
//! the logs and `policy check` report it: a leaf the engine keeps and the
//! prover fills in.

use std::fmt;
use std::time::Duration;

/// How a set's proofs went, for reports (`/ready`, logs, `policy check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofStatus {
    /// Every invariant and every policy proven over every environment.
    Proven {
        solver: String,
        invariants: usize,
        policies: usize,
        environments: usize,
        elapsed: Duration,
    },
    /// No solver: only the sampled check ran.
    Off { reason: String },
}

impl ProofStatus {
    pub fn is_on(&self) -> bool {
        matches!(self, ProofStatus::Proven { .. })
    }
}

impl fmt::Display for ProofStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofStatus::Proven {
                solver,
                invariants,
                policies,
                environments,
                elapsed,
            } => write!(
                f,
                "on: {invariants} invariants hold and {policies} policies never err, \
                 proven over {environments} request environments in {} ms (solver {solver})",
                elapsed.as_millis()
            ),
            ProofStatus::Off { reason } => write!(
                f,
                "off: {reason}; the invariants are checked over sampled requests only"
            ),
        }
    }
}
