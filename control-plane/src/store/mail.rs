//! The mail outbox: a message is written in the transaction of the change
//! that calls for it (a workspace falling past due), then sent by the worker
//! under a lease, retried with backoff, and kept as sent or dead.

use super::deliveries::claim_due;
use super::work::{Scope, Work};
use super::{Store, StoreError, now};
use sqlx::Row;

/// A message waiting to be sent.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub id: String,
    pub workspace_id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// How one sending attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailAttempt {
    Sent,
    /// Pending again at `retry_at`, or dead when `None`.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

/// Queue a message in the unit's transaction.
pub(crate) async fn enqueue(
    work: &mut Work,
    workspace_id: &str,
    recipient: &str,
    subject: &str,
    body: &str,
) -> Result<(), StoreError> {
    let at = now();
    sqlx::query(
        "INSERT INTO mail_outbox (id, workspace_id, recipient, subject, body, status, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
    )
    .bind(super::new_id())
    .bind(workspace_id)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(at)
    .execute(&mut *work.tx)
    .await?;
    Ok(())
}

impl Store {
    /// Lease up to `limit` due messages for `lease_secs`.
    pub async fn claim_due_mail(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<OutgoingMail>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let ids = claim_due(
            &mut tx,
            self.backend(),
            "mail_outbox",
            now() + lease_secs.max(1),
            limit,
        )
        .await?;
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "SELECT id, workspace_id, recipient, subject, body, attempts FROM mail_outbox \
                 WHERE id = $1",
            )
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
            due.push(OutgoingMail {
                id: row.try_get("id")?,
                workspace_id: row.try_get("workspace_id")?,
                recipient: row.try_get("recipient")?,
                subject: row.try_get("subject")?,
                body: row.try_get("body")?,
                attempts: row.try_get("attempts")?,
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Record how an attempt at `mail` ended.
    pub async fn settle_mail(
        &self,
        mail: &OutgoingMail,
        outcome: &MailAttempt,
    ) -> Result<(), StoreError> {
        let at = now();
        let (status, next, error, sent_at) = match outcome {
            MailAttempt::Sent => ("sent", at, None, Some(at)),
            MailAttempt::Failed {
                error,
                retry_at: Some(next),
            } => ("pending", *next, Some(error.as_str()), None),
            MailAttempt::Failed {
                error,
                retry_at: None,
            } => ("dead", at, Some(error.as_str()), None),
        };
        let mut tx = self.read(Scope::workspace(&mail.workspace_id)).await?;
        sqlx::query(
            "UPDATE mail_outbox SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
             locked_until = NULL, last_error = $3, sent_at = $4 WHERE id = $5 AND status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(sent_at)
        .bind(&mail.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
