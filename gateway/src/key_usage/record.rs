//! API key use seen at the gateway, recorded in memory on the request path
//! and reported to the control plane in the background
//! ([`crate::key_usage::report`]): when each key was last used, and every
//! refused key with the request it came with — never a secret.
//!
//! Recording is a short critical section on a mutex (no I/O, no await). A
//! successful use allocates only the first time a key is seen in a flush
//! interval; a refusal allocates its few strings, and at most
//! [`MAX_PENDING_REFUSALS`] wait at once: past that they are counted and
//! dropped (the next flush logs how many). A malformed key has no key id,
//! so no workspace can be told: it is counted and dropped the same way. A
//! well-formed key id is always reported; the control plane files the
//! refusal under the key's own workspace, and ignores ids it does not know.
//!
//! Sessions are recorded the same way as key use: the latest time each
//! session was served in a flush interval (one entry per session, however
//! busy), so the control plane shows when each device was last seen.

use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Most refusals waiting for a flush; one report carries at most this many.
pub const MAX_PENDING_REFUSALS: usize = 1000;
/// Most distinct keys whose use waits for a flush.
pub const MAX_PENDING_USED: usize = 10_000;
/// Most distinct sessions whose use waits for a flush.
pub const MAX_PENDING_SESSIONS: usize = 10_000;
/// Longest user agent reported (the control plane refuses longer ones).
pub const MAX_USER_AGENT: usize = 512;

/// One key's latest successful use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Used {
    pub key_id: String,
    /// Unix seconds.
    pub at: i64,
}

/// One session's latest request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSeen {
    pub session_id: String,
    /// Unix seconds.
    pub at: i64,
}

/// One refused key use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub key_id: String,
    /// [`crate::authn::api_key::KeyError::reason`], or `wrong_workspace`.
    pub reason: &'static str,
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// What one flush takes away.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub used: Vec<Used>,
    pub refused: Vec<Refusal>,
    pub sessions: Vec<SessionSeen>,
    /// Refusals not kept: the queue was full.
    pub dropped: u64,
    /// Refusals of malformed keys (no key id, so no workspace to tell).
    pub unattributable: u64,
}

#[derive(Debug, Default)]
struct Pending {
    used: HashMap<String, i64>,
    refused: Vec<Refusal>,
    sessions: HashMap<String, i64>,
    dropped: u64,
    unattributable: u64,
}

/// Keep the latest `at` of `id`, within `max` distinct ids.
fn latest(map: &mut HashMap<String, i64>, id: &str, at: i64, max: usize) {
    if let Some(last) = map.get_mut(id) {
        *last = (*last).max(at);
    } else if map.len() < max {
        map.insert(id.to_string(), at);
    }
}

/// The in-memory recorder. Disabled (no gateway token): records nothing.
#[derive(Debug)]
pub struct KeyUsage {
    enabled: bool,
    pending: Mutex<Pending>,
}

impl KeyUsage {
    pub fn new(enabled: bool) -> Self {
        KeyUsage {
            enabled,
            pending: Mutex::new(Pending::default()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `key_id` was accepted at `at`.
    pub fn used(&self, key_id: &str, at: i64) {
        if !self.enabled {
            return;
        }
        latest(&mut self.pending().used, key_id, at, MAX_PENDING_USED);
    }

    /// Session `session_id` was served at `at`.
    pub fn session_seen(&self, session_id: &str, at: i64) {
        if !self.enabled {
            return;
        }
        latest(
            &mut self.pending().sessions,
            session_id,
            at,
            MAX_PENDING_SESSIONS,
        );
    }

    /// A key was refused; `key_id` is `None` when it was malformed.
    pub fn refused(
        &self,
        key_id: Option<&str>,
        reason: &'static str,
        request_id: &str,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
        at: i64,
    ) {
        if !self.enabled {
            return;
        }
        let mut pending = self.pending();
        let Some(key_id) = key_id else {
            pending.unattributable += 1;
            return;
        };
        if pending.refused.len() >= MAX_PENDING_REFUSALS {
            pending.dropped += 1;
            return;
        }
        pending.refused.push(Refusal {
            key_id: key_id.to_string(),
            reason,
            request_id: request_id.to_string(),
            ip: ip.map(|ip| ip.to_string()),
            user_agent: user_agent.and_then(printable_agent),
            at,
        });
    }

    /// Everything recorded since the last take.
    pub fn take(&self) -> Batch {
        let pending = std::mem::take(&mut *self.pending());
        let mut used: Vec<Used> = pending
            .used
            .into_iter()
            .map(|(key_id, at)| Used { key_id, at })
            .collect();
        used.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        let mut sessions: Vec<SessionSeen> = pending
            .sessions
            .into_iter()
            .map(|(session_id, at)| SessionSeen { session_id, at })
            .collect();
        sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        Batch {
            used,
            refused: pending.refused,
            sessions,
            dropped: pending.dropped,
            unattributable: pending.unattributable,
        }
    }

    /// Put back what a failed report carried, within the same bounds, so
    /// that the next flush tries again.
    pub fn restore(&self, used: Vec<Used>, refused: Vec<Refusal>, sessions: Vec<SessionSeen>) {
        let mut pending = self.pending();
        for u in used {
            latest(&mut pending.used, &u.key_id, u.at, MAX_PENDING_USED);
        }
        for s in sessions {
            latest(
                &mut pending.sessions,
                &s.session_id,
                s.at,
                MAX_PENDING_SESSIONS,
            );
        }
        let room = MAX_PENDING_REFUSALS.saturating_sub(pending.refused.len());
        let lost = refused.len().saturating_sub(room);
        pending.refused.extend(refused.into_iter().take(room));
        pending.dropped += u64::try_from(lost).unwrap_or(u64::MAX);
    }
}

/// A user agent as the audit log keeps it: trimmed, printable ASCII,
/// bounded; anything else is left out.
fn printable_agent(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()
        && value.len() <= MAX_USER_AGENT
        && value.chars().all(|c| c.is_ascii_graphic() || c == ' '))
    .then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuse(usage: &KeyUsage, key_id: Option<&str>, agent: Option<&str>) {
        let ip = "203.0.113.9".parse().ok();
        usage.refused(key_id, "revoked", "req-1", ip, agent, 50);
    }

    #[test]
    fn the_latest_use_of_each_key_is_kept() {
        let usage = KeyUsage::new(true);
        usage.used("bbbb", 20);
        usage.used("aaaa", 30);
        usage.used("bbbb", 10);
        usage.used("bbbb", 25);
        let batch = usage.take();
        assert_eq!(
            batch.used,
            vec![
                Used {
                    key_id: "aaaa".into(),
                    at: 30
                },
                Used {
                    key_id: "bbbb".into(),
                    at: 25
                },
            ]
        );
        assert_eq!(usage.take(), Batch::default(), "a take empties the queue");
    }

    #[test]
    fn refusals_keep_the_request_but_are_bounded() {
        let usage = KeyUsage::new(true);
        refuse(&usage, Some("aaaa"), Some("  curl/8.5 "));
        refuse(&usage, Some("aaaa"), Some("bad\u{7f}agent"));
        refuse(&usage, None, None);
        let batch = usage.take();
        assert_eq!(
            batch.refused[0],
            Refusal {
                key_id: "aaaa".into(),
                reason: "revoked",
                request_id: "req-1".into(),
                ip: Some("203.0.113.9".into()),
                user_agent: Some("curl/8.5".into()),
                at: 50,
            }
        );
        assert_eq!(batch.refused[1].user_agent, None, "unprintable agent kept");
        assert_eq!((batch.unattributable, batch.dropped), (1, 0));

        for _ in 0..MAX_PENDING_REFUSALS + 5 {
            refuse(&usage, Some("aaaa"), None);
        }
        let batch = usage.take();
        assert_eq!(batch.refused.len(), MAX_PENDING_REFUSALS);
        assert_eq!(batch.dropped, 5);
    }

    #[test]
    fn a_failed_report_is_tried_again_within_bounds() {
        let usage = KeyUsage::new(true);
        usage.used("aaaa", 10);
        refuse(&usage, Some("aaaa"), None);
        let failed = usage.take();
        usage.used("aaaa", 5);
        for _ in 0..MAX_PENDING_REFUSALS {
            refuse(&usage, Some("bbbb"), None);
        }
        usage.restore(failed.used, failed.refused, failed.sessions);
        let batch = usage.take();
        assert_eq!(batch.used[0].at, 10, "a restored use went back in time");
        assert_eq!(batch.refused.len(), MAX_PENDING_REFUSALS);
        assert_eq!(batch.dropped, 1);
    }

    #[test]
    fn each_session_is_reported_once_with_its_latest_time() {
        let usage = KeyUsage::new(true);
        for at in [12, 30, 20] {
            usage.session_seen("s-1", at);
        }
        usage.session_seen("s-0", 5);
        let batch = usage.take();
        let seen = |id: &str, at| SessionSeen {
            session_id: id.into(),
            at,
        };
        assert_eq!(batch.sessions, vec![seen("s-0", 5), seen("s-1", 30)]);
        usage.session_seen("s-1", 31);
        usage.restore(Vec::new(), Vec::new(), batch.sessions);
        assert_eq!(
            usage.take().sessions,
            vec![seen("s-0", 5), seen("s-1", 31)],
            "a failed report is tried again, keeping the latest time"
        );
        for i in 0..MAX_PENDING_SESSIONS + 3 {
            usage.session_seen(&format!("s-{i}"), 1);
        }
        assert_eq!(usage.take().sessions.len(), MAX_PENDING_SESSIONS);
    }

    #[test]
    fn a_disabled_recorder_keeps_nothing() {
        let usage = KeyUsage::new(false);
        usage.session_seen("s-1", 10);
        usage.used("aaaa", 10);
        refuse(&usage, Some("aaaa"), None);
        refuse(&usage, None, None);
        assert_eq!(usage.take(), Batch::default());
    }
}
