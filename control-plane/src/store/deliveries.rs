//! The delivery worker's queries: claim due outbox deliveries under a lease,
//! so that no two workers (of one or several control planes) send the same
//! delivery at once, and settle each attempt.

use super::work::Scope;
use super::{Backend, Store, StoreError, now};
use sqlx::{Any, Row, Transaction};

/// Lease up to `limit` due rows of an outbox `table` (columns `status`,
/// `next_attempt_at`, `locked_until`) until `lease_until`; their ids.
/// Postgres skips rows another transaction is claiming rather than waiting;
/// on SQLite the single connection serialises claims.
#[tracing::instrument(name = "store.claim_due", skip_all)]
pub(crate) async fn claim_due(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    table: &'static str,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let claim = format!(
        "UPDATE {table} SET locked_until = $1 WHERE id IN (\
         SELECT id FROM {table} WHERE status = 'pending' \
         AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until < $2) \
         ORDER BY next_attempt_at, id LIMIT $3{lock}) \
         AND status = 'pending' RETURNING id"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(claim))
        .bind(lease_until)
        .bind(now())
        .bind(limit.max(1))
        .fetch_all(&mut **tx)
        .await?)
}

/// A delivery claimed by the worker, with what it needs to send it.
#[derive(Clone)]
pub struct DueDelivery {
    pub id: String,
    pub event_id: String,
    pub workspace_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    /// The stored payload, sent byte for byte.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("workspace_id", &self.workspace_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Claim up to `limit` due deliveries for `lease_secs`: while the lease
    /// runs no other worker (of this or another control plane) claims them.
    #[tracing::instrument(name = "store.claim_due_deliveries", skip_all)]
    pub async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let at = now();
        let mut tx = self.read(Scope::system()).await?;
        let ids = claim_due(
            &mut tx,
            self.backend(),
            "webhook_deliveries",
            at + lease_secs.max(1),
            limit,
        )
        .await?;
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "SELECT d.id, d.event_id, d.workspace_id, d.endpoint_id, d.attempts, \
                 p.url, p.secret, e.payload FROM webhook_deliveries d \
                 JOIN webhook_events e ON e.id = d.event_id \
                 JOIN webhook_endpoints p ON p.id = d.endpoint_id \
                 WHERE d.id = $1 AND e.workspace_id = d.workspace_id \
                 AND p.workspace_id = d.workspace_id",
            )
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            due.push(DueDelivery {
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                workspace_id: row.try_get("workspace_id")?,
                endpoint_id: row.try_get("endpoint_id")?,
                url: row.try_get("url")?,
                secret: row.try_get("secret")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    /// The outbox's backlog: how many deliveries are pending, and when the
    /// oldest of them was created (Unix seconds; `None` when none is).
    #[tracing::instrument(name = "store.outbox_backlog", skip_all)]
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<i64>), StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let row: (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(row)
    }

    /// One attempt of a claimed delivery: `delivered`, or failed (pending
    /// again at `retry_at`, or `dead` when `retry_at` is `None`).
    #[tracing::instrument(name = "store.settle_delivery", skip_all)]
    pub async fn settle_delivery(
        &self,
        delivery: &DueDelivery,
        outcome: &Attempt,
    ) -> Result<(), StoreError> {
        let at = now();
        let (status, next, code, error) = match outcome {
            Attempt::Delivered { status } => ("delivered", at, Some(*status), None),
            Attempt::Failed {
                status,
                error,
                retry_at: Some(next),
            } => ("pending", *next, *status, Some(error.as_str())),
            Attempt::Failed {
                status,
                error,
                retry_at: None,
            } => ("dead", at, *status, Some(error.as_str())),
        };
        let mut tx = self.read(Scope::system()).await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             next_attempt_at = $2, locked_until = NULL, last_attempt_at = $3, \
             last_status = $4, last_error = $5 WHERE id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(at)
        .bind(code.map(i32::from))
        .bind(error)
        .bind(&delivery.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// Anything else; `retry_at` (Unix seconds) is `None` after the last attempt.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<i64>,
    },
}
