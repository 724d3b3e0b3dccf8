//! The mail outbox: a message is written in the transaction of the change
//! that calls for it (a sign-up, a reset, an invitation, a workspace
//! falling past due), then sent by the mail worker ([`crate::mail::worker`])
//! under a lease, retried with backoff, and kept as sent or dead. Once
//! sent or dead, a message keeps only its record (recipient, subject,
//! template, status): its body and values, which carry its link and so the
//! link's token, are cleared — tokens live hashed at rest, not in mail.

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
    /// The template it is rendered from when sent (`None`: mail queued as
    /// plain text, sent as its subject and body).
    pub template: Option<String>,
    /// The template's values (a JSON object).
    pub data: Option<String>,
}

/// A message in the outbox, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub template: Option<String>,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The text kept to send (empty once sent or dead).
    pub body: String,
    /// The template's values (none once sent or dead).
    pub data: Option<String>,
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

/// Queue `message` for `recipient` in the unit's transaction: its template
/// and values are kept and rendered when sent (with the operator's
/// templates); the subject and text kept beside them, rendered now with the
/// built-in ones, are what is sent should rendering then fail.
#[tracing::instrument(name = "store.enqueue_message", skip_all)]
pub(crate) async fn enqueue_message(
    work: &mut Work,
    workspace_id: &str,
    recipient: &str,
    message: &crate::mail::Message,
) -> Result<(), StoreError> {
    let data = message.data();
    let (subject, body) = match crate::mail::MailTemplates::default().render_message(message) {
        Ok(rendered) => (rendered.subject, rendered.text),
        Err(_) => {
            let link = data
                .as_object()
                .and_then(|d| d.iter().find(|(k, _)| k.ends_with("link")))
                .and_then(|(_, l)| l.as_str())
                .unwrap_or_default();
            let subject = format!("WRNexus: {}", message.template().replace('_', " "));
            let body = format!("{subject}\n\n{link}\n");
            (subject, body)
        }
    };
    let at = now();
    sqlx::query(
        "INSERT INTO mail_outbox (id, workspace_id, recipient, subject, body, status, \
         next_attempt_at, created_at, template, data) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $7, $8)",
    )
    .bind(super::new_id())
    .bind(workspace_id)
    .bind(recipient)
    .bind(&subject)
    .bind(&body)
    .bind(at)
    .bind(message.template())
    .bind(data.to_string())
    .execute(&mut *work.tx)
    .await?;
    Ok(())
}

impl Store {
    /// Queue `message` for `recipient` through `workspace_id`'s outbox, in
    /// a unit of its own (mail that is not part of a larger change).
    #[tracing::instrument(name = "store.queue_mail", skip_all)]
    pub async fn queue_mail(
        &self,
        workspace_id: &str,
        recipient: &str,
        message: &crate::mail::Message,
        meta: &super::meta::Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        enqueue_message(&mut work, workspace_id, recipient, message).await?;
        self.finish(work).await
    }

    /// The workspace's outbox, newest first.
    #[tracing::instrument(name = "store.mail_of", skip_all)]
    pub async fn mail_of(&self, workspace_id: &str) -> Result<Vec<MailRecord>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT id, recipient, subject, template, status, attempts, last_error, body, data \
             FROM mail_outbox WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(MailRecord {
                    id: row.try_get("id")?,
                    recipient: row.try_get("recipient")?,
                    subject: row.try_get("subject")?,
                    template: row.try_get("template")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    body: row.try_get("body")?,
                    data: row.try_get("data")?,
                })
            })
            .collect()
    }

    /// Lease up to `limit` due messages for `lease_secs`.
    #[tracing::instrument(name = "store.claim_due_mail", skip_all)]
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
                "SELECT id, workspace_id, recipient, subject, body, attempts, template, data \
                 FROM mail_outbox WHERE id = $1",
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
                template: row.try_get("template")?,
                data: row.try_get("data")?,
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Record how an attempt at `mail` ended. A message settled sent or
    /// dead loses its body and values (whatever carried its link).
    #[tracing::instrument(name = "store.settle_mail", skip_all)]
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
             locked_until = NULL, last_error = $3, sent_at = $4, \
             body = CASE WHEN $1 = 'pending' THEN body ELSE '' END, \
             data = CASE WHEN $1 = 'pending' THEN data ELSE NULL END \
             WHERE id = $5 AND status = 'pending'",
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
