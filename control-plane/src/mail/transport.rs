//! Sending one rendered message: over SMTP with lettre (multipart/
//! alternative, text and HTML), into the dev mailbox, or nowhere (mail
//! then waits in the outbox until a server is configured).

use super::config::MailConfig;
use super::dev_mailbox::{DevMail, DevMailbox};
use super::templates::Rendered;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The mail could not be set up; [`MailerError::key`] names the setting.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("`{0}` is not a mailbox (e.g. `WRNexus <no-reply@example.com>`)")]
    From(String),
    #[error("{0}")]
    Url(String),
}

impl MailerError {
    /// The setting at fault.
    pub fn key(&self) -> &'static str {
        match self {
            MailerError::From(_) => "mail.from",
            MailerError::Url(_) => "mail.smtp_url",
        }
    }
}

#[derive(Clone)]
enum Route {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Dev(DevMailbox),
    Nowhere,
}

/// A sender. Cloning is cheap.
#[derive(Clone)]
pub struct Mailer {
    route: Route,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let route = match self.route {
            Route::Smtp(_) => "smtp",
            Route::Dev(_) => "dev mailbox",
            Route::Nowhere => "nowhere",
        };
        f.debug_struct("Mailer")
            .field("route", &route)
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Check an SMTP URL the way the sender will read it, without saying it
/// back (it may hold a password).
pub fn check_smtp_url(url: &str) -> Result<(), MailerError> {
    smtp(url).map(|_| ())
}

fn smtp(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailerError> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(MailerError::Url(
            "must start with `smtp://` or `smtps://`".into(),
        ));
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        // The error may quote the URL, credentials and all.
        .map_err(|_| MailerError::Url("not a valid smtp:// or smtps:// URL".into()))
        .map(|b| b.timeout(Some(std::time::Duration::from_secs(20))).build())
}

impl Mailer {
    /// The sender `config` calls for: SMTP when a URL is set, else the dev
    /// mailbox when there is one, else nowhere.
    pub fn new(config: &MailConfig) -> Result<Self, MailerError> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|_| MailerError::From(config.from.clone()))?;
        let route = match (&config.smtp_url, &config.dev_mailbox) {
            (Some(url), _) => Route::Smtp(smtp(url)?),
            (None, Some(mailbox)) => Route::Dev(mailbox.clone()),
            (None, None) => Route::Nowhere,
        };
        Ok(Mailer { route, from })
    }

    /// Whether there is anywhere to send to.
    pub fn configured(&self) -> bool {
        !matches!(self.route, Route::Nowhere)
    }

    /// Send `mail` (the outbox row `id`) to `recipient`. A message without
    /// HTML is sent as plain text.
    pub async fn send(&self, id: &str, recipient: &str, mail: &Rendered) -> Result<(), String> {
        match &self.route {
            Route::Nowhere => Err("no SMTP server configured".to_string()),
            Route::Dev(mailbox) => {
                mailbox.deliver(DevMail {
                    id: id.to_string(),
                    to: recipient.to_string(),
                    subject: mail.subject.clone(),
                    text: mail.text.clone(),
                    html: mail.html.clone(),
                    sent_at: crate::store::outbox::rfc3339(crate::store::now()),
                });
                Ok(())
            }
            Route::Smtp(transport) => {
                let message = self.message(recipient, mail)?;
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The MIME message: multipart/alternative (text, then HTML).
    fn message(&self, recipient: &str, mail: &Rendered) -> Result<Message, String> {
        let to = recipient
            .parse::<Mailbox>()
            .map_err(|e| format!("recipient: {e}"))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone());
        let built = if mail.html.is_empty() {
            builder.singlepart(SinglePart::plain(mail.text.clone()))
        } else {
            builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
        };
        built.map_err(|e| format!("message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            subject: "Hello".into(),
            text: "plain https://x.example/a\n".into(),
            html: "<p>html</p>".into(),
        }
    }

    #[test]
    fn a_message_is_text_and_html_alternatives() {
        let mailer = Mailer::new(&MailConfig::default()).unwrap();
        let raw = String::from_utf8(
            mailer
                .message("a@example.com", &rendered())
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains("Subject: Hello"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        let text = raw.find("text/plain").unwrap();
        let html = raw.find("text/html").unwrap();
        assert!(text < html, "{raw}");
    }

    #[test]
    fn bad_settings_name_their_key_and_hide_credentials() {
        let err = Mailer::new(&MailConfig {
            from: "not a mailbox".into(),
            ..MailConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.key(), "mail.from");
        for bad in ["http://u:hunter2@mail", "smtp://u:hunter2@mail:notaport"] {
            let err = check_smtp_url(bad).unwrap_err();
            assert_eq!(err.key(), "mail.smtp_url");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        check_smtp_url("smtps://u:p@mail.example.com").unwrap();
        check_smtp_url("smtp://127.0.0.1:2525").unwrap();
    }

    #[tokio::test]
    async fn the_dev_mailbox_keeps_what_is_sent() {
        let mailbox = DevMailbox::new();
        let mailer = Mailer::new(&MailConfig {
            dev_mailbox: Some(mailbox.clone()),
            ..MailConfig::default()
        })
        .unwrap();
        assert!(mailer.configured());
        mailer
            .send("m1", "a@example.com", &rendered())
            .await
            .unwrap();
        let got = mailbox.get("m1").unwrap();
        assert_eq!(
            (got.to.as_str(), got.subject.as_str()),
            ("a@example.com", "Hello")
        );
        let nowhere = Mailer::new(&MailConfig::default()).unwrap();
        assert!(!nowhere.configured());
        assert!(
            nowhere
                .send("m2", "a@example.com", &rendered())
                .await
                .is_err()
        );
    }
}
