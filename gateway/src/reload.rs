//! Hot reload: the policy directory is watched (polled for changes) and
//! reloaded on SIGHUP. A candidate set must parse, validate, keep the
//! invariants and pass its decision tests; then it replaces the live one
//! atomically. A refused candidate is logged with file and line, counted,
//! and the last good set keeps serving.

use crate::metrics::Metrics;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wrnexus_policies::reload::{fingerprint, load_checked};
use wrnexus_policies::{PolicyEngine, PolicySource};

/// A swappable policy set.
pub type Slot = Arc<RwLock<Arc<PolicyEngine>>>;

/// How often the directory is looked at.
const POLL: Duration = Duration::from_millis(250);

/// Load `source` into `slot` if it passes every check.
pub async fn reload(source: &PolicySource, slot: &Slot, set: &str, metrics: &Metrics) -> bool {
    let candidate = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || load_checked(&source)).await
    };
    match candidate {
        Ok(Ok(engine)) => {
            let count = engine.policy_count();
            match slot.write() {
                Ok(mut live) => *live = Arc::new(engine),
                Err(poisoned) => *poisoned.into_inner() = Arc::new(engine),
            }
            metrics.policy_reloads.with_label_values(&[set, "ok"]).inc();
            tracing::info!(set, policies = count, source = %source, "policies reloaded");
            true
        }
        Ok(Err(errors)) => {
            metrics
                .policy_reloads
                .with_label_values(&[set, "refused"])
                .inc();
            for e in &errors.0 {
                tracing::error!(set, source = %source, error = %e, "policy reload refused; the last good set keeps serving");
            }
            false
        }
        Err(e) => {
            metrics
                .policy_reloads
                .with_label_values(&[set, "refused"])
                .inc();
            tracing::error!(set, error = %e, "policy reload failed");
            false
        }
    }
}

/// Watch `source` (a directory) and reload `slot` on change or SIGHUP,
/// forever. The shipped policies never change: nothing to watch.
pub async fn watch(source: PolicySource, slot: Slot, set: &'static str, metrics: Metrics) {
    let PolicySource::Dir(dir) = &source else {
        return;
    };
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; watching the directory only");
            None
        }
    };
    let mut seen = fingerprint(dir);
    let mut tick = tokio::time::interval(POLL);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        let now = fingerprint(dir);
        if forced || now != seen {
            seen = now;
            reload(&source, &slot, set, &metrics).await;
        }
    }
}
