//! Hot reload: the policy directory is watched (polled for changes) and
//! reloaded on SIGHUP. A candidate set must parse, validate, keep the
//! invariants (proven by the solver, or sampled when there is none), pass
//! its decision tests and declare every action the routes decide with;
//! then it replaces the one in force atomically. A refused candidate is
//! logged with file and line (or route and action, or the request that
//! breaks an invariant), counted, and the last good set keeps serving. The
//! proofs run here, on load, never on a request's path.

use crate::ops::admin::ProofsReport;
use crate::ops::metrics::Metrics;
use crate::request::routes::ActionUse;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wrnexus_policies::reload::{fingerprint, load_checked_with};
use wrnexus_policies::solver::ProofSettings;
use wrnexus_policies::{PolicyEngine, PolicySource};

/// A swappable policy set.
pub type Slot = Arc<RwLock<Arc<PolicyEngine>>>;

/// How often the directory is looked at, unless configured.
pub use crate::config::DEFAULT_POLICY_POLL as DEFAULT_POLL;

/// One policy set kept up to date: where it comes from, where it serves,
/// and what it must provide.
#[derive(Clone)]
pub struct Watched {
    pub source: PolicySource,
    pub slot: Slot,
    /// `live` or `shadow`: the metrics label and the log field.
    pub set: &'static str,
    pub metrics: Metrics,
    /// The actions the routes decide with: a set must declare every one.
    pub uses: Arc<[ActionUse]>,
    /// The solver every candidate is proven with.
    pub proofs: ProofSettings,
}

/// Say how a set's proofs went: at `info` when proven (with the time they
/// took), loudly when they are off.
pub fn log_proofs(set: &str, engine: &PolicyEngine) {
    match engine.proofs() {
        Some(proofs) if proofs.is_on() => tracing::info!(set, %proofs, "policy proofs"),
        Some(proofs) => tracing::warn!(
            set,
            %proofs,
            "policy proofs are OFF: no solver, so the invariants are only sampled; install cvc5 \
             or set [policies] solver"
        ),
        None => {}
    }
}

/// What `/ready` says of the proofs of the sets in force.
pub fn proofs_report(live: &Slot, shadow: Option<&Slot>) -> ProofsReport {
    let (live, shadow) = (live.clone(), shadow.cloned());
    let status = |slot: &Slot| {
        let engine = match slot.read() {
            Ok(engine) => engine.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        engine
            .proofs()
            .map_or_else(|| "unknown".to_string(), ToString::to_string)
    };
    Arc::new(move || {
        let mut report = format!("policy proofs (live): {}\n", status(&live));
        if let Some(shadow) = &shadow {
            report.push_str(&format!("policy proofs (shadow): {}\n", status(shadow)));
        }
        report
    })
}

impl Watched {
    /// Load the source into the slot if it passes every check.
    pub async fn reload(&self) -> bool {
        let (set, source) = (self.set, &self.source);
        let candidate = {
            let (source, proofs) = (source.clone(), self.proofs.clone());
            tokio::task::spawn_blocking(move || load_checked_with(&source, &proofs)).await
        };
        let engine = match candidate {
            Ok(Ok(engine)) => engine,
            Ok(Err(errors)) => {
                self.refused();
                for e in &errors.0 {
                    tracing::error!(set, source = %source, error = %e, "policy reload refused; the last good set keeps serving");
                }
                return false;
            }
            Err(e) => {
                self.refused();
                tracing::error!(set, error = %e, "policy reload failed");
                return false;
            }
        };
        let undeclared: Vec<&ActionUse> = self
            .uses
            .iter()
            .filter(|u| !engine.knows_action(&u.action))
            .collect();
        if !undeclared.is_empty() {
            self.refused();
            for u in undeclared {
                tracing::error!(set, source = %source, route = %u.route, action = %u.action, "policy reload refused: the schema no longer declares an action a route uses; the last good set keeps serving");
            }
            return false;
        }
        let count = engine.policy_count();
        let proofs = engine
            .proofs()
            .map_or_else(String::new, ToString::to_string);
        let proven = engine.proofs().is_some_and(|p| p.is_on());
        match self.slot.write() {
            Ok(mut live) => *live = Arc::new(engine),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(engine),
        }
        self.metrics
            .policy_reloads
            .with_label_values(&[set, "ok"])
            .inc();
        tracing::info!(set, policies = count, source = %source, %proofs, "policies reloaded");
        if !proven {
            tracing::warn!(set, %proofs, "policy proofs are OFF for the reloaded set: its invariants were only sampled");
        }
        true
    }

    fn refused(&self) {
        self.metrics
            .policy_reloads
            .with_label_values(&[self.set, "refused"])
            .inc();
    }

    /// Watch the source (a directory), polling every `poll`, and reload on
    /// change or SIGHUP, forever. The shipped policies never change: nothing
    /// to watch.
    pub async fn watch(self, poll: Duration) {
        let PolicySource::Dir(dir) = &self.source else {
            return;
        };
        let mut watch = crate::ops::watch::Watch::new(poll, "the policy directory");
        let mut seen = fingerprint(dir);
        loop {
            let forced = watch.next().await;
            let now = fingerprint(dir);
            if forced || now != seen {
                if forced {
                    tracing::info!(set = self.set, "SIGHUP: reloading policies");
                }
                seen = now;
                self.reload().await;
            }
        }
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
