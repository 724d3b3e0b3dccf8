//! The audit log: append-only rows written in the transaction of the change
//! they describe, read back per workspace with filters and a cursor.

use super::work::Scope;
use super::{Store, StoreError, now};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
    Operator,
    /// Stripe, the outbox worker, the control plane itself.
    #[default]
    System,
    /// Nobody identified yet (a failed sign-in).
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::Operator => "operator",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// The request a change came from: who, and from where.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP method, which decisions see as `context.method`.
    pub method: Option<String>,
    /// The session a user acts through, when they act through one: a change
    /// that must not outlive it checks it is still live.
    pub session_id: Option<String>,
}

impl Meta {
    /// The control plane acting on its own (workers, tests).
    pub fn system() -> Self {
        Meta::default()
    }

    /// The same request, acted on by someone else (e.g. once signed in),
    /// through no session until [`Meta::with_session`] names one.
    pub fn with_actor(&self, kind: ActorKind, id: &str) -> Self {
        Meta {
            actor_kind: kind,
            actor_id: Some(id.to_string()),
            session_id: None,
            ..self.clone()
        }
    }

    /// The same request, made through session `id`.
    pub fn with_session(&self, id: &str) -> Self {
        Meta {
            session_id: Some(id.to_string()),
            ..self.clone()
        }
    }
}

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

/// Append one row inside `tx`.
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
    pub async fn audit_only(&self, meta: &Meta, record: AuditRecord<'_>) -> Result<(), StoreError> {
        let scope = record
            .workspace_id
            .map_or_else(Scope::default, Scope::workspace);
        let mut work = self.work(scope, meta).await?;
        work.audit(record).await?;
        self.finish(work).await
    }

    /// One page of a workspace's log, oldest first.
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
