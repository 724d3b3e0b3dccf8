//! The `[mail]` section: the SMTP server (`smtp_url`, or the environment's
//! `WRNEXUS_SMTP_URL`, which keeps a password out of the file), the sender,
//! the operator's templates and the mail worker. `[billing] smtp_url` and
//! `mail_from` are older spellings of `[mail] smtp_url` and `from`, still
//! read; giving both spellings is refused.

use crate::billing_settings::BillingSettings;
use crate::durations::{Ms, Secs};
use crate::sources::Sources;
use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use wrnexus_control_plane::mail::{MailConfig, MailTemplates};

/// The variable an SMTP URL (credentials and all) may come from instead
/// of the file.
pub const SMTP_URL_VAR: &str = "WRNEXUS_SMTP_URL";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `smtp://host:port`, `smtps://user:pass@host`, `…?tls=required`.
    pub smtp_url: Option<String>,
    /// The `From:` of every message, e.g. `Acme <no-reply@acme.example>`.
    pub from: Option<String>,
    /// A directory whose files replace the built-in mail templates by name
    /// (`invitation.subject.txt`, `invitation.txt`, `invitation.html`,
    /// `layout.html`, …).
    pub templates_dir: Option<PathBuf>,
    /// Run the mail worker in this process (default true).
    pub worker: Option<bool>,
    /// How often the worker looks for due mail (default 1s).
    pub poll_interval_ms: Option<Ms>,
    /// Attempts before a message is dead (default 10).
    pub max_attempts: Option<u32>,
    /// The wait after the first failed attempt, doubling (default 30s).
    pub backoff_base_secs: Option<Secs>,
    /// The longest wait between attempts (default 1h).
    pub backoff_max_secs: Option<Secs>,
}

/// `WRNEXUS_SMTP_URL`, when set and not empty.
pub fn smtp_url_from_env() -> Option<String> {
    std::env::var(SMTP_URL_VAR)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// One setting under its two spellings: refused when both are given.
fn one_of<'a>(
    sources: &Sources,
    new: (&str, Option<&'a String>),
    old: (&str, Option<&'a String>),
) -> Result<Option<&'a String>> {
    match (new.1, old.1) {
        (Some(_), Some(_)) => Err(anyhow!(
            "{}: also given as `{}` ({}), its older spelling: keep only `{}`",
            sources.locate(new.0),
            old.0,
            sources.locate(old.0),
            new.0
        )),
        (value, None) | (None, value) => Ok(value),
    }
}

impl MailSettings {
    /// Where the SMTP URL came from, to begin an error message with.
    pub fn locate_smtp_url(&self, sources: &Sources, env_smtp_url: Option<&str>) -> String {
        if env_smtp_url.is_some() {
            format!("environment variable `{SMTP_URL_VAR}`")
        } else if self.smtp_url.is_some() {
            sources.locate("mail.smtp_url")
        } else {
            sources.locate("billing.smtp_url")
        }
    }

    /// Where the sender came from.
    pub fn locate_mail_from(&self, billing: &BillingSettings, sources: &Sources) -> String {
        if billing.mail_from.is_some() {
            sources.locate("billing.mail_from")
        } else {
            sources.locate("mail.from")
        }
    }

    /// The mail settings, `env_smtp_url` (`WRNEXUS_SMTP_URL`) over the
    /// file's. The templates are loaded (and tried) here: a broken one is
    /// an error naming its file.
    pub fn config(
        &self,
        billing: &BillingSettings,
        sources: &Sources,
        env_smtp_url: Option<String>,
    ) -> Result<MailConfig> {
        let m = self;
        let b = billing;
        let mut c = MailConfig::default();
        let file_url = one_of(
            sources,
            ("mail.smtp_url", m.smtp_url.as_ref()),
            ("billing.smtp_url", b.smtp_url.as_ref()),
        )?;
        c.smtp_url = env_smtp_url.or_else(|| file_url.cloned());
        if let Some(from) = one_of(
            sources,
            ("mail.from", m.from.as_ref()),
            ("billing.mail_from", b.mail_from.as_ref()),
        )? {
            c.from = from.clone();
        }
        if let Some(v) = m.worker {
            c.worker_enabled = v;
        }
        if let Some(v) = m.poll_interval_ms {
            c.poll_interval = v.duration.max(Duration::from_millis(10));
        }
        if let Some(v) = m.max_attempts {
            c.max_attempts = v.max(1);
        }
        if let Some(v) = m.backoff_base_secs {
            c.backoff_base = v.duration;
        }
        if let Some(v) = m.backoff_max_secs {
            c.backoff_max = v.duration;
        }
        c.templates = MailTemplates::load(m.templates_dir.as_deref())
            .map_err(|e| anyhow!("{}: {e}", sources.locate("mail.templates_dir")))?;
        Ok(c)
    }
}
