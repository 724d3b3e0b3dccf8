//! When to look at watched files again: every `poll`, and at once on
//! SIGHUP (`systemctl reload`), forever. Shared by the policy directories
//! and the TLS certificates.

use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::{Interval, MissedTickBehavior};

/// The ticks of one watcher.
pub struct Watch {
    tick: Interval,
    hangup: Option<Signal>,
}

impl Watch {
    /// Look every `poll` (at least 10 ms) and on SIGHUP; `what` names the
    /// watched files in the warning when SIGHUP cannot be listened for.
    pub fn new(poll: Duration, what: &str) -> Self {
        let hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; watching {what} only");
                None
            }
        };
        let mut tick = tokio::time::interval(poll.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Watch { tick, hangup }
    }

    /// Wait for the next look: `true` when SIGHUP asked for it.
    pub async fn next(&mut self) -> bool {
        let hangup = &mut self.hangup;
        tokio::select! {
            _ = self.tick.tick() => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        }
    }
}
