//! One audit row: what happened, to what, with what outcome, appended in
//! the transaction of the change it describes.

use super::meta::Meta;
use super::{StoreError, now};
use sqlx::{Any, Transaction};

/// How an audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One row to append.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    /// `None` only for events tied to no workspace; no workspace sees those.
    pub workspace_id: Option<&'a str>,
    /// Dotted name, e.g. `member.role_changed`, `signin`.
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: Outcome,
    /// Extra facts (never a secret), e.g. the new role or a decision id.
    pub detail: Option<serde_json::Value>,
}

impl<'a> AuditRecord<'a> {
    pub fn success(workspace_id: &'a str, action: &'a str, target: &'a str) -> Self {
        AuditRecord {
            workspace_id: Some(workspace_id),
            action,
            target: Some(target),
            outcome: Outcome::Success,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Append one row inside `tx`.
#[tracing::instrument(name = "store.append", skip_all)]
pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    meta: &Meta,
    record: &AuditRecord<'_>,
) -> Result<(), StoreError> {
    append_at(tx, meta, record, now()).await
}

/// Append one row inside `tx` for an event that happened `at` (Unix
/// seconds), e.g. one a gateway reports a moment later.
pub(crate) async fn append_at(
    tx: &mut Transaction<'static, Any>,
    meta: &Meta,
    record: &AuditRecord<'_>,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, workspace_id, actor_kind, actor_id, action, target, outcome, \
         request_id, ip, user_agent, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(record.workspace_id)
    .bind(meta.actor_kind.as_str())
    .bind(meta.actor_id.as_deref())
    .bind(record.action)
    .bind(record.target)
    .bind(record.outcome.as_str())
    .bind(meta.request_id.as_deref())
    .bind(meta.ip.as_deref())
    .bind(meta.user_agent.as_deref())
    .bind(record.detail.as_ref().map(serde_json::Value::to_string))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
