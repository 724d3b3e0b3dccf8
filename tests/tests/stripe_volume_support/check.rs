//! Checking the outcome: each event applied exactly once (its stored row,
//! the audit rows and outbound events written while applying it), and each
//! workspace's billing, as its owner sees it, against its latest events.

use super::{Event, Expected};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{User, json_body};

/// Exactly once, from the acknowledgements `acks` (event, `duplicate`) and
/// the database.
pub async fn applied_once(
    db: &mut sqlx::AnyConnection,
    events: &[Event],
    customers: &[(String, String)],
    acks: &[(usize, bool)],
) -> TestResult {
    // Exactly once: at most one first-time acknowledgement per event, one
    // stored row each, processed, with the outcome its type calls for.
    let mut first_acks = vec![0usize; events.len()];
    for (event, duplicate) in acks {
        if !duplicate {
            first_acks[*event] += 1;
        }
    }
    let twice: Vec<&str> = first_acks
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 1)
        .map(|(e, _)| events[e].id.as_str())
        .collect();
    assert!(
        twice.is_empty(),
        "acknowledged as new more than once: {twice:?}"
    );
    let rows = sqlx::query("SELECT id, workspace_id, outcome, attempts FROM stripe_events")
        .fetch_all(&mut *db)
        .await?;
    assert_eq!(rows.len(), events.len(), "one stored row per event");
    let index: HashMap<&str, usize> = events
        .iter()
        .enumerate()
        .map(|(n, e)| (e.id.as_str(), n))
        .collect();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut attempts: BTreeMap<i64, usize> = BTreeMap::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        let workspace: Option<String> = row.try_get("workspace_id")?;
        let outcome: Option<String> = row.try_get("outcome")?;
        *attempts.entry(row.try_get("attempts")?).or_default() += 1;
        let outcome = outcome.unwrap_or_default();
        *outcomes.entry(outcome.clone()).or_default() += 1;
        let e = &events[*index
            .get(id.as_str())
            .ok_or("a stored event Stripe never sent")?];
        if e.handled {
            assert!(
                matches!(outcome.as_str(), "applied" | "stale"),
                "{id} ({}): {outcome}",
                e.kind
            );
            assert_eq!(
                workspace.as_deref(),
                Some(expected_id(customers, e.workspace)),
                "{id}"
            );
        } else {
            assert_eq!(
                (outcome.as_str(), workspace),
                ("ignored", None),
                "{id} ({})",
                e.kind
            );
        }
    }
    eprintln!("outcomes {outcomes:?}; claims per event {attempts:?}");

    // Each event's effects written once: per event, no audit action twice,
    // no outbound event twice; each completed checkout audited exactly once.
    let audit = sqlx::query("SELECT actor_id, action, COUNT(*) AS n FROM audit_log WHERE actor_id LIKE 'stripe:%' GROUP BY actor_id, action")
        .fetch_all(&mut *db)
        .await?;
    let mut checkout_audits: HashMap<String, i64> = HashMap::new();
    for row in &audit {
        let (actor, action, n): (String, String, i64) = (
            row.try_get("actor_id")?,
            row.try_get("action")?,
            row.try_get("n")?,
        );
        assert_eq!(n, 1, "{actor} wrote {action} {n} times");
        if action == "billing.checkout_completed" {
            checkout_audits.insert(actor.trim_start_matches("stripe:").to_string(), n);
        }
    }
    for e in events
        .iter()
        .filter(|e| e.kind == "checkout.session.completed")
    {
        assert_eq!(
            checkout_audits.get(&e.id),
            Some(&1),
            "checkout {} audited once",
            e.id
        );
    }
    let mut emitted: HashMap<(String, String), usize> = HashMap::new();
    for row in sqlx::query(
        "SELECT event_type, payload FROM webhook_events WHERE event_type LIKE 'billing.%'",
    )
    .fetch_all(&mut *db)
    .await?
    {
        let payload: Value = serde_json::from_str(&row.try_get::<String, _>("payload")?)?;
        if let Some(id) = payload["data"]["stripe_event"].as_str() {
            *emitted
                .entry((id.to_string(), row.try_get("event_type")?))
                .or_default() += 1;
        }
    }
    let emitted_twice: Vec<_> = emitted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        emitted_twice.is_empty(),
        "outbound events sent twice for one Stripe event: {emitted_twice:?}"
    );
    Ok(())
}

fn expected_id(customers: &[(String, String)], w: usize) -> &str {
    customers.get(w).map_or("", |(id, _)| id.as_str())
}

/// The owner's view of a workspace's billing, through the gateway.
pub async fn billing_view(c: &Client, gateway: &str, owner: &User, id: &str) -> TestResult<Value> {
    let r = owner
        .req(
            c,
            Method::GET,
            &format!("{gateway}/.wrnexus/api/v1/workspaces/{id}/billing"),
        )
        .send()
        .await?;
    let (status, body) = json_body(r).await?;
    if status != StatusCode::OK {
        return Err(format!("billing view of {id}: {status} {body}").into());
    }
    Ok(body)
}

/// Where the view differs from what the latest events say.
pub fn differences(view: &Value, expected: &Expected) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, got: &Value, want: Value| {
        if *got != want {
            out.push(format!("{what}: {got} (latest events say {want})"));
        }
    };
    let sub = &view["subscription"];
    match &expected.subscription {
        None => check("subscription.status", &sub["status"], Value::Null),
        Some(s) => {
            let standing = match s.status.as_str() {
                "active" | "trialing" => Some("good"),
                "past_due" => Some("past_due"),
                "unpaid" | "canceled" | "paused" | "incomplete_expired" => Some("lapsed"),
                _ => None,
            };
            check("subscription.id", &sub["id"], s.id.clone().into());
            check(
                "subscription.status",
                &sub["status"],
                s.status.clone().into(),
            );
            check("subscription.standing", &sub["standing"], standing.into());
            check(
                "seats.subscribed",
                &view["seats"]["subscribed"],
                s.quantity.into(),
            );
            let period_end = rfc3339(s.period_end);
            check(
                "subscription.period_end",
                &sub["period_end"],
                period_end.into(),
            );
            // Past due stays writable through the grace period; lapsed is read-only.
            let status = if standing == Some("lapsed") {
                "suspended"
            } else {
                "active"
            };
            check("status", &view["status"], status.into());
            if standing == Some("good") {
                check("plan", &view["plan"], "team".into());
            }
        }
    }
    let invoices: BTreeMap<String, (Value, Value, Value)> = view["invoices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let id = i["id"].as_str().unwrap_or_default().to_string();
            (
                id,
                (
                    i["status"].clone(),
                    i["amount_due"].clone(),
                    i["amount_paid"].clone(),
                ),
            )
        })
        .collect();
    let want: BTreeMap<String, (Value, Value, Value)> = expected
        .invoices
        .iter()
        .map(|(id, i)| {
            (
                id.clone(),
                (
                    i.status.clone().into(),
                    i.amount_due.into(),
                    i.amount_paid.into(),
                ),
            )
        })
        .collect();
    for (id, w) in &want {
        match invoices.get(id) {
            Some(g) if g == w => {}
            got => out.push(format!("invoice {id}: {got:?} (latest events say {w:?})")),
        }
    }
    if invoices.len() != want.len() {
        out.push(format!(
            "{} invoices listed, {} invoiced",
            invoices.len(),
            want.len()
        ));
    }
    out
}

/// Unix seconds as the API writes them (RFC 3339, UTC, whole seconds).
fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
