//! The audit log: append-only rows written in the transaction of the change
//! they describe, read back per workspace with filters and a cursor.

use super::scope::Scope;
use super::{Store, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

// The row and its actor have files of their own; they are also found here,
// where they have always been.
pub use super::audit_row::{AuditRecord, Outcome};
pub use super::meta::{ActorKind, Meta};

/// A row as a workspace reads it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    /// Position in the log; pass the last one seen as `after` for the next page.
    pub seq: i64,
    pub workspace_id: Option<String>,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<serde_json::Value>,
    /// Unix seconds.
    pub at: i64,
}

/// Filters of a log read. Times are Unix seconds, inclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only rows after this `seq` (the cursor).
    pub after: Option<i64>,
    pub limit: i64,
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    let detail: Option<String> = row.try_get("detail")?;
    Ok(AuditEntry {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        workspace_id: row.try_get("workspace_id")?,
        actor_kind: row.try_get("actor_kind")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        request_id: row.try_get("request_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
        at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Append a row in a transaction of its own: for events that change
    /// nothing else (a failed sign-in, a denied call, a key use failure).
    #[tracing::instrument(name = "store.audit_only", skip_all)]
    pub async fn audit_only(&self, meta: &Meta, record: AuditRecord<'_>) -> Result<(), StoreError> {
        let scope = record
            .workspace_id
            .map_or_else(Scope::default, Scope::workspace);
        let mut work = self.work(scope, meta).await?;
        work.audit(record).await?;
        self.finish(work).await
    }

    /// One page of a workspace's log, oldest first.
    #[tracing::instrument(name = "store.audit_log", skip_all)]
    pub async fn audit_log(
        &self,
        workspace_id: &str,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        // Absent filters bind NULL and match everything.
        let rows = sqlx::query(
            "SELECT seq, id, workspace_id, actor_kind, actor_id, action, target, outcome, \
             request_id, ip, user_agent, detail, created_at FROM audit_log \
             WHERE workspace_id = $1 \
             AND ($2 IS NULL OR actor_id = $2) AND ($3 IS NULL OR action = $3) \
             AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at <= $5) \
             AND seq > $6 ORDER BY seq LIMIT $7",
        )
        .bind(workspace_id)
        .bind(query.actor_id.as_deref())
        .bind(query.action.as_deref())
        .bind(query.since)
        .bind(query.until)
        .bind(query.after.unwrap_or(0))
        .bind(query.limit)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect::<Result<_, _>>()?)
    }
}
