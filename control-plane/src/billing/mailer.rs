//! Sending mail over SMTP with lettre. Without an SMTP URL nothing is sent:
//! messages wait in the outbox until one is configured.

use crate::store::mail::OutgoingMail;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The mail could not be set up; [`MailerError::key`] names the setting.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("`{0}` is not a mailbox")]
    From(String),
    #[error("{0}")]
    Url(String),
}

impl MailerError {
    /// The setting at fault.
    pub fn key(&self) -> &'static str {
        match self {
            MailerError::From(_) => "billing.mail_from",
            MailerError::Url(_) => "billing.smtp_url",
        }
    }
}

/// An SMTP sender. Cloning is cheap.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.transport.is_some())
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Self, MailerError> {
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| MailerError::From(from.to_string()))?;
        let transport = smtp_url
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    // The error may quote the URL, credentials and all.
                    .map_err(|_| MailerError::Url("not a valid smtp:// or smtps:// URL".into()))
                    .map(|b| b.timeout(Some(std::time::Duration::from_secs(20))).build())
            })
            .transpose()?;
        Ok(Mailer { transport, from })
    }

    /// Whether there is anywhere to send to.
    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Send one message from the outbox.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        let Some(transport) = &self.transport else {
            return Err("no SMTP server configured".to_string());
        };
        let to = mail
            .recipient
            .parse::<Mailbox>()
            .map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| format!("message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
