//! The outbound webhook outbox: an event row, and one pending delivery per
//! subscribed endpoint, written in the transaction of the change itself, so a
//! committed change always has its event and a rolled-back one never does.

use super::{StoreError, now};
use serde_json::json;
use sqlx::{Any, Row, Transaction};

/// The event types endpoints may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "workspace.created",
    "workspace.renamed",
    "workspace.suspended",
    "workspace.reactivated",
    "workspace.sign_in_policy.updated",
    "member.added",
    "member.removed",
    "member.role_changed",
    "invitation.created",
    "project.created",
    "project.updated",
    "api_key.created",
    "api_key.revoked",
    "billing.paid",
    "billing.past_due",
    "billing.lapsed",
    "webhook.test",
    "sso.domain.added",
    "sso.domain.verified",
    "sso.domain.unverified",
    "sso.domain.removed",
    "sso.connection.created",
    "sso.connection.updated",
    "sso.connection.deleted",
    "sso.member.joined",
    "sso.logout",
];

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Whether an endpoint's subscription list takes `event_type`.
pub fn subscribed(event_types: &[String], event_type: &str) -> bool {
    event_types.iter().any(|t| t == "*" || t == event_type)
}

/// Record `event_type` for `workspace_id` and schedule its deliveries.
/// Returns the event id, the stable `webhook-id` of every delivery.
#[tracing::instrument(name = "store.enqueue", skip_all)]
pub(crate) async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    workspace_id: &str,
    event_type: &str,
    data: serde_json::Value,
) -> Result<String, StoreError> {
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let at = now();
    // The payload names its workspace and carries only that workspace's data.
    let payload = json!({
        "type": event_type,
        "timestamp": rfc3339(at),
        "workspace_id": workspace_id,
        "data": data,
    });
    sqlx::query(
        "INSERT INTO webhook_events (id, workspace_id, event_type, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(workspace_id)
    .bind(event_type)
    .bind(payload.to_string())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    let endpoints = sqlx::query(
        "SELECT id, event_types FROM webhook_endpoints \
         WHERE workspace_id = $1 AND disabled_at IS NULL",
    )
    .bind(workspace_id)
    .fetch_all(&mut **tx)
    .await?;
    for endpoint in endpoints {
        let types: String = endpoint.try_get("event_types")?;
        let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
        if !subscribed(&types, event_type) {
            continue;
        }
        let endpoint_id: String = endpoint.try_get("id")?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, workspace_id, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&id)
        .bind(&endpoint_id)
        .bind(workspace_id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}
