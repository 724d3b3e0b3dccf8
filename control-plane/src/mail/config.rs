//! How the control plane sends mail: where to (SMTP, the dev mailbox, or
//! nowhere yet), from whom, with which templates, and how the mail worker
//! retries.

use super::dev_mailbox::DevMailbox;
use super::templates::MailTemplates;
use std::time::Duration;

/// The `From:` of mail when none is configured.
pub const DEFAULT_FROM: &str = "WRNexus <no-reply@wrnexus.invalid>";

/// Mail settings (`[mail]`).
#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (or `smtps://…`, `?tls=required`), credentials
    /// in the URL; unset: mail goes to the dev mailbox when there is one,
    /// else waits in the outbox until a server is configured.
    pub smtp_url: Option<String>,
    /// The `From:` of every message.
    pub from: String,
    /// Built in, or replaced from `[mail] templates_dir` (loaded by the binary).
    pub templates: MailTemplates,
    /// Run the mail worker in this process.
    pub worker_enabled: bool,
    /// How often the worker looks for due mail.
    pub poll_interval: Duration,
    /// Attempts before a message is dead.
    pub max_attempts: u32,
    /// The wait after the first failure; doubles after each further one.
    pub backoff_base: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// `wrnexus dev` without an SMTP server: mail is delivered here.
    pub dev_mailbox: Option<DevMailbox>,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: DEFAULT_FROM.to_string(),
            templates: MailTemplates::default(),
            worker_enabled: true,
            poll_interval: Duration::from_secs(1),
            max_attempts: 10,
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            dev_mailbox: None,
        }
    }
}

impl MailConfig {
    /// The wait after `attempt` failures (1 for the first): `backoff_base`
    /// doubling, at most `backoff_max`.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.backoff_base
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max)
    }

    /// Where mail goes, for logs and the start-up line (no credentials).
    pub fn destination(&self) -> String {
        match (&self.smtp_url, &self.dev_mailbox) {
            (Some(url), _) => format!("SMTP {}", crate::store::redact_url(url)),
            (None, Some(_)) => "the dev mailbox".to_string(),
            (None, None) => "nowhere yet (no SMTP server: mail waits in the outbox)".to_string(),
        }
    }
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("destination", &self.destination())
            .field("from", &self.from)
            .field("templates", &self.templates)
            .field("worker_enabled", &self.worker_enabled)
            .field("poll_interval", &self.poll_interval)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_maximum() {
        let c = MailConfig::default();
        assert_eq!(c.retry_delay(1), Duration::from_secs(30));
        assert_eq!(c.retry_delay(2), Duration::from_secs(60));
        assert_eq!(c.retry_delay(9), Duration::from_secs(3600));
        assert_eq!(c.retry_delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn the_destination_hides_the_password() {
        let c = MailConfig {
            smtp_url: Some("smtps://user:hunter2@mail.example.com:465".into()),
            ..MailConfig::default()
        };
        let said = format!("{} {c:?}", c.destination());
        assert!(said.contains("mail.example.com"), "{said}");
        assert!(!said.contains("hunter2"), "{said}");
    }
}
