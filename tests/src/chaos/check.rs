//! The audit after a chaos run: every request the upstream received
//! against the timeline (who sent it, what the policies let that role do,
//! whether a revocation had reached the gateway's bound), every request
//! sent against what came back (an allowed request refused only inside a
//! fault's window), and the figures.

use super::Shape;
use super::fleet::Received;
use super::load::{SEQ_HEADER, Sent};
use super::schedule::{Fault, Timeline};
use crate::TestResult;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// How long after a fault ends an allowed request may still be refused:
/// a resubscription, a refilled cache, a cold gateway's first reads.
pub const AFTER_FAULT_MS: f64 = 8000.0;

/// A revocation reaches a gateway in contact with Redis within this.
pub const PUSHED_MS: f64 = 1000.0;

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub topology: String,
    pub seconds: f64,
    pub sent: usize,
    pub forwarded: usize,
    pub received: usize,
    /// Requests the upstream received twice (a retried forward).
    pub duplicates: usize,
    /// Refusals by cause, over every request sent.
    pub refusals: BTreeMap<String, usize>,
    /// Allowed requests refused, all inside fault windows.
    pub allowed_refused: usize,
    /// Longest time a gateway refused allowed requests, ms, and the fault.
    pub longest_fail_closed_ms: f64,
    pub longest_fail_closed_during: String,
    /// Latest forward of a request sent after each revocation answered, ms
    /// after the answer (0: none).
    pub revocation_lags: Vec<(String, f64)>,
    pub faults: Vec<String>,
}

impl Figures {
    /// The figures as a few lines of text.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chaos on Redis {}: {:.0} s, {} requests sent, {} forwarded, {} received by the app ({} twice)",
            self.topology, self.seconds, self.sent, self.forwarded, self.received, self.duplicates
        );
        for fault in &self.faults {
            let _ = writeln!(out, "  fault: {fault}");
        }
        for (cause, n) in &self.refusals {
            let _ = writeln!(out, "  refused: {n:>6}  {cause}");
        }
        let _ = writeln!(
            out,
            "  allowed requests refused (all inside fault windows): {}; longest fail-closed window {:.0} ms ({})",
            self.allowed_refused, self.longest_fail_closed_ms, self.longest_fail_closed_during
        );
        for (what, lag) in &self.revocation_lags {
            let _ = writeln!(out, "  revocation lag {lag:>6.0} ms  {what}");
        }
        out
    }
}

/// Check the run: the figures, or every violation found.
pub fn check(tl: &Timeline, record: &[Received], shape: &Shape) -> TestResult<Figures> {
    let stale_ms = shape.stale_bound_secs as f64 * 1000.0;
    let by_seq: HashMap<u64, &Sent> = tl.sent.iter().map(|s| (s.seq, s)).collect();
    let revoked: HashMap<usize, &super::schedule::Revocation> =
        tl.revocations.iter().map(|r| (r.principal, r)).collect();
    let mut violations: Vec<String> = Vec::new();
    let mut received: HashMap<u64, usize> = HashMap::new();
    let mut last_after: HashMap<usize, (f64, usize)> = HashMap::new();

    // Every request the app received.
    for r in record {
        let Some(seq) = r.header(SEQ_HEADER).and_then(|v| v.parse::<u64>().ok()) else {
            if r.at_ms < tl.started_ms {
                // The harness's own readiness probe, before any principal.
                continue;
            }
            violations.push(format!(
                "the app received {} {} that nobody sent",
                r.method, r.path
            ));
            continue;
        };
        *received.entry(seq).or_default() += 1;
        let Some(sent) = by_seq.get(&seq) else {
            violations.push(format!("the app received request {seq}, never sent"));
            continue;
        };
        let p = &tl.principals[sent.principal];
        if let Err(e) = p.matches(r) {
            violations.push(format!("request {seq} from {}: {e}", p.name));
        }
        if r.method != sent.method || !r.path.ends_with(&format!("/{seq}")) {
            violations.push(format!("request {seq} arrived as {} {}", r.method, r.path));
        }
        if !p.may(&r.method) {
            violations.push(format!(
                "{} ({}) got a {} forwarded: request {seq}",
                p.name, p.role, r.method
            ));
        }
        if let Some(rev) = revoked.get(&sent.principal) {
            let bound = rev.at_ms + revocation_bound(tl, sent.gateway, rev.at_ms, stale_ms);
            if r.at_ms > bound {
                violations.push(format!(
                    "{}: request {seq} forwarded by gateway {} {:.0} ms after \"{}\", beyond its bound",
                    p.name,
                    sent.gateway + 1,
                    r.at_ms - rev.at_ms,
                    rev.what
                ));
            }
            // The lag counts requests sent once the revocation had
            // answered; one already in flight then may land just after.
            if sent.sent_ms > rev.at_ms {
                let lag = last_after.entry(sent.principal).or_default();
                if r.at_ms - rev.at_ms > lag.0 {
                    *lag = (r.at_ms - rev.at_ms, sent.gateway);
                }
            }
        }
    }

    // Every request sent.
    let mut figures = Figures {
        topology: tl.topology.clone(),
        seconds: (tl.ended_ms - tl.started_ms) / 1000.0,
        sent: tl.sent.len(),
        received: record
            .iter()
            .filter(|r| r.header(SEQ_HEADER).is_some())
            .count(),
        duplicates: received.values().filter(|&&n| n > 1).count(),
        faults: tl.faults.iter().map(|f| f.what.clone()).collect(),
        ..Figures::default()
    };
    let mut unexplained = Vec::new();
    for s in &tl.sent {
        let p = &tl.principals[s.principal];
        if s.outcome.forwarded() {
            figures.forwarded += 1;
            if !received.contains_key(&s.seq) {
                violations.push(format!(
                    "request {} answered {} but the app never received it",
                    s.seq,
                    s.outcome.cause()
                ));
            }
            continue;
        }
        *figures.refusals.entry(s.outcome.cause()).or_default() += 1;
        let before_revocation = revoked
            .get(&s.principal)
            .is_none_or(|r| s.done_ms < r.asked_ms);
        if p.may(&s.method) && before_revocation {
            figures.allowed_refused += 1;
            if covering(&tl.faults, s).is_none() {
                unexplained.push(format!(
                    "{} {} by {} at gateway {} {:.0} ms into the run: {}",
                    s.method,
                    s.seq,
                    p.name,
                    s.gateway + 1,
                    s.sent_ms - tl.started_ms,
                    s.outcome.cause()
                ));
            }
        }
    }
    if !unexplained.is_empty() {
        violations.push(format!(
            "{} allowed requests refused outside every fault window, first: {}",
            unexplained.len(),
            unexplained[..unexplained.len().min(5)].join("; ")
        ));
    }
    let (longest, during) = longest_fail_closed(tl, &revoked);
    figures.longest_fail_closed_ms = longest;
    figures.longest_fail_closed_during = during;
    for rev in &tl.revocations {
        let p = &tl.principals[rev.principal];
        let (lag, g) = last_after.get(&rev.principal).copied().unwrap_or_default();
        let at = if lag > 0.0 {
            format!(", at gateway {}", g + 1)
        } else {
            String::new()
        };
        figures
            .revocation_lags
            .push((format!("{} ({}{at})", rev.what, p.name), lag));
    }
    if violations.is_empty() {
        Ok(figures)
    } else {
        Err(format!(
            "{} violations:\n{}\n{}",
            violations.len(),
            violations[..violations.len().min(20)].join("\n"),
            figures.report()
        )
        .into())
    }
}

/// How long after a revocation answered gateway `g` may still forward:
/// a gateway cut off from invalidations then serves up to its staleness
/// bound (plus the heartbeat's second to notice); otherwise the push
/// reaches it within [`PUSHED_MS`].
fn revocation_bound(tl: &Timeline, g: usize, at_ms: f64, stale_ms: f64) -> f64 {
    let cut_off = tl
        .faults
        .iter()
        .any(|f| f.stale && f.gateways.contains(&g) && f.start_ms <= at_ms && at_ms <= f.end_ms);
    if cut_off {
        stale_ms + 1500.0
    } else {
        PUSHED_MS
    }
}

/// The fault whose window (start to end plus [`AFTER_FAULT_MS`]) holds a
/// refused request at a gateway it touches.
fn covering<'a>(faults: &'a [Fault], s: &Sent) -> Option<&'a Fault> {
    faults.iter().find(|f| {
        f.gateways.contains(&s.gateway)
            && s.done_ms >= f.start_ms
            && s.sent_ms <= f.end_ms + AFTER_FAULT_MS
    })
}

/// The longest stretch in which one gateway refused every allowed request
/// sent to it (first refusal to next forward): its length and the fault.
fn longest_fail_closed(
    tl: &Timeline,
    revoked: &HashMap<usize, &super::schedule::Revocation>,
) -> (f64, String) {
    let mut best = (0.0, String::from("none"));
    for g in 0..tl.gateways {
        let mut allowed: Vec<&Sent> = tl
            .sent
            .iter()
            .filter(|s| {
                s.gateway == g
                    && tl.principals[s.principal].may(&s.method)
                    && revoked
                        .get(&s.principal)
                        .is_none_or(|r| s.done_ms < r.asked_ms)
            })
            .collect();
        allowed.sort_by(|a, b| a.sent_ms.total_cmp(&b.sent_ms));
        let mut first_refused: Option<&Sent> = None;
        for s in allowed {
            match (s.outcome.forwarded(), first_refused) {
                (false, None) => first_refused = Some(s),
                (true, Some(first)) => {
                    let length = s.sent_ms - first.sent_ms;
                    if length > best.0 {
                        let during = covering(&tl.faults, first).map_or("no fault", |f| &f.what);
                        best = (length, format!("gateway {}, {during}", g + 1));
                    }
                    first_refused = None;
                }
                _ => {}
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::load::{Auth, Outcome, Principal};
    use crate::chaos::schedule::Revocation;

    const T0: f64 = 1_000_000.0;

    fn timeline() -> Timeline {
        let principal = |name: &str, role: &str| Principal {
            name: name.into(),
            auth: Auth::Session {
                user_id: format!("u-{name}"),
                cookie: format!("wrnexus_session=secret-{name}"),
            },
            role: role.into(),
            workspace_id: "w1".into(),
        };
        Timeline {
            topology: "test".into(),
            principals: vec![principal("alice", "member"), principal("carol", "viewer")],
            sent: Vec::new(),
            revocations: Vec::new(),
            faults: Vec::new(),
            gateways: 1,
            started_ms: T0,
            ended_ms: T0 + 10_000.0,
        }
    }

    /// A request `seq` by principal `p` sent at `at` (ms into the run),
    /// with its outcome, and what the app recorded of it if forwarded.
    fn send(
        tl: &mut Timeline,
        record: &mut Vec<Received>,
        seq: u64,
        p: usize,
        method: &str,
        at: f64,
        status: u16,
    ) {
        tl.sent.push(Sent {
            seq,
            principal: p,
            gateway: 0,
            method: method.into(),
            sent_ms: T0 + at,
            done_ms: T0 + at + 5.0,
            outcome: Outcome::Status { status, code: None },
        });
        if (200..300).contains(&status) {
            let who = &tl.principals[p];
            let Auth::Session { user_id, .. } = &who.auth else {
                return;
            };
            let headers = serde_json::json!({
                SEQ_HEADER: seq.to_string(),
                "x-user-id": user_id,
                "x-workspace-id": who.workspace_id,
                "x-workspace-role": who.role,
            });
            record.push(Received {
                at_ms: T0 + at + 2.0,
                method: method.into(),
                path: format!("/chaos/{}/{seq}", who.name),
                headers: headers.as_object().cloned().unwrap_or_default(),
            });
        }
    }

    fn shape() -> Shape {
        Shape {
            cycles: 1,
            stale_bound_secs: 2,
            interval_ms: 50,
        }
    }

    #[test]
    fn a_clean_run_passes_with_its_figures() -> TestResult {
        let (mut tl, mut record) = (timeline(), Vec::new());
        send(&mut tl, &mut record, 1, 0, "GET", 10.0, 200);
        send(&mut tl, &mut record, 2, 0, "POST", 20.0, 200);
        send(&mut tl, &mut record, 3, 1, "POST", 30.0, 403);
        let figures = check(&tl, &record, &shape())?;
        assert_eq!(
            (figures.sent, figures.forwarded, figures.received),
            (3, 2, 2)
        );
        assert_eq!(figures.refusals.get("403 -"), Some(&1));
        Ok(())
    }

    #[test]
    fn a_viewers_write_reaching_the_app_is_a_violation() {
        let (mut tl, mut record) = (timeline(), Vec::new());
        send(&mut tl, &mut record, 1, 1, "POST", 10.0, 200);
        let err = check(&tl, &record, &shape())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("carol (viewer) got a POST forwarded"), "{err}");
    }

    #[test]
    fn a_forward_past_the_revocation_bound_is_a_violation() {
        let (mut tl, mut record) = (timeline(), Vec::new());
        tl.revocations.push(Revocation {
            principal: 0,
            what: "member removed".into(),
            asked_ms: T0 + 100.0,
            at_ms: T0 + 120.0,
        });
        send(&mut tl, &mut record, 1, 0, "GET", 500.0, 200);
        assert!(
            check(&tl, &record, &shape()).is_ok(),
            "within 1 s of the revocation"
        );
        send(&mut tl, &mut record, 2, 0, "GET", 1500.0, 200);
        let err = check(&tl, &record, &shape())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("beyond its bound"), "{err}");
    }

    #[test]
    fn a_forged_identity_or_a_leaked_credential_is_a_violation() {
        let (mut tl, mut record) = (timeline(), Vec::new());
        send(&mut tl, &mut record, 1, 0, "GET", 10.0, 200);
        record[0]
            .headers
            .insert("x-user-id".into(), "u-carol".into());
        let err = check(&tl, &record, &shape())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("x-user-id"), "{err}");
        record[0]
            .headers
            .insert("x-user-id".into(), "u-alice".into());
        record[0]
            .headers
            .insert("cookie".into(), "wrnexus_session=secret-alice".into());
        let err = check(&tl, &record, &shape())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("credential reached the app"), "{err}");
    }

    #[test]
    fn an_allowed_request_refused_outside_a_fault_is_a_violation() {
        let (mut tl, mut record) = (timeline(), Vec::new());
        tl.faults.push(Fault {
            what: "Redis killed".into(),
            start_ms: T0 + 1000.0,
            end_ms: T0 + 2000.0,
            gateways: vec![0],
            stale: true,
        });
        send(&mut tl, &mut record, 1, 0, "GET", 1500.0, 503);
        send(&mut tl, &mut record, 2, 0, "GET", 9000.0, 503);
        assert!(
            check(&tl, &record, &shape()).is_ok(),
            "inside the window and its 8 s after"
        );
        send(&mut tl, &mut record, 3, 0, "GET", 10_500.0, 503);
        let err = check(&tl, &record, &shape())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("1 allowed requests refused outside every fault window"),
            "{err}"
        );
    }

    #[test]
    fn a_2xx_the_app_never_saw_is_a_violation() {
        let (mut tl, mut record) = (timeline(), Vec::new());
        send(&mut tl, &mut record, 1, 0, "GET", 10.0, 200);
        record.clear();
        let err = check(&tl, &record, &shape())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("never received it"), "{err}");
    }
}
