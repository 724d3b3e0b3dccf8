//! The mail worker: claims due mail from the outbox under a lease, renders
//! it from its template and values (rows without a template keep their
//! stored subject and body), sends it, and records the outcome: sent,
//! pending again after a backoff, or dead after the last attempt. Several
//! control planes share the outbox safely (claims and leases in the
//! database).

use super::config::MailConfig;
use super::templates::Rendered;
use super::transport::{Mailer, MailerError};
use crate::store::mail::{MailAttempt, OutgoingMail};
use crate::store::{Store, StoreError, now};
use std::future::Future;
use tokio::task::JoinHandle;

/// Messages claimed per pass.
const BATCH: i64 = 16;
/// How long a claim lasts; a sender that dies mid-way frees the message then.
const LEASE_SECS: i64 = 60;

/// Sends the outbox. One per control plane.
pub struct MailWorker {
    store: Store,
    config: MailConfig,
    mailer: Mailer,
}

impl MailWorker {
    pub fn new(store: Store, config: MailConfig) -> Result<Self, MailerError> {
        let mailer = Mailer::new(&config)?;
        Ok(MailWorker {
            store,
            config,
            mailer,
        })
    }

    /// Run on the current runtime until `shutdown` resolves.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tokio::pin!(shutdown);
        tracing::info!(to = %self.config.destination(), "mail worker started");
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "mail worker: a pass failed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("mail worker stopped");
    }

    /// One pass: every message due now. Without anywhere to send to, mail
    /// waits in the outbox.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        if !self.mailer.configured() {
            return Ok(0);
        }
        let due = self.store.claim_due_mail(BATCH, LEASE_SECS).await?;
        let count = due.len();
        for mail in due {
            let outcome = match self
                .mailer
                .send(&mail.id, &mail.recipient, &self.render(&mail))
                .await
            {
                Ok(()) => MailAttempt::Sent,
                Err(error) => self.failed(&mail, error),
            };
            if let Some(m) = crate::metrics::metrics() {
                let result = match &outcome {
                    MailAttempt::Sent => "sent",
                    MailAttempt::Failed { retry_at: None, .. } => "dead",
                    MailAttempt::Failed { .. } => "failed",
                };
                m.mail.with_label_values(&[result]).inc();
            }
            self.store.settle_mail(&mail, &outcome).await?;
        }
        Ok(count)
    }

    /// The message as the templates make it now; a row without a template
    /// (or whose template no longer renders: logged) is sent as its stored
    /// subject and body.
    fn render(&self, mail: &OutgoingMail) -> Rendered {
        let stored = || Rendered {
            subject: mail.subject.clone(),
            text: mail.body.clone(),
            html: String::new(),
        };
        let Some(template) = &mail.template else {
            return stored();
        };
        let data = mail
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(serde_json::Value::Null);
        match self.config.templates.render(template, &data) {
            Ok(rendered) => rendered,
            Err(e) => {
                tracing::error!(mail_id = %mail.id, error = %e, "rendering mail failed: sending its stored text");
                stored()
            }
        }
    }

    fn failed(&self, mail: &OutgoingMail, error: String) -> MailAttempt {
        let attempt = u32::try_from(mail.attempts.saturating_add(1)).unwrap_or(u32::MAX);
        let retry_at = (attempt < self.config.max_attempts).then(|| {
            let delay = self.config.retry_delay(attempt).as_secs();
            now().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX))
        });
        match retry_at {
            Some(_) => {
                tracing::warn!(mail_id = %mail.id, attempt, %error, "sending mail failed: will retry")
            }
            None => {
                tracing::error!(mail_id = %mail.id, attempt, %error, "sending mail failed for the last time: dead")
            }
        }
        MailAttempt::Failed { error, retry_at }
    }
}
