//! The `[control_plane]` section, and how it makes a [`ControlPlaneConfig`]
//! (with `[session]`, `[policies]` and `[billing]`). The checks that need
//! more than one key are in [`crate::validate`].

use crate::durations::{Ms, Secs};
use crate::settings::{
    Settings, assertion_key_from_env, gateway_token_from_env, list_or_commas, some_list_or_commas,
};
use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::api::forwarded::TrustedProxies;
use wrnexus_control_plane::api::pages::Pages;
use wrnexus_control_plane::webhook_target::parse_networks;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneSettings {
    pub listen: String,
    pub database_url: String,
    /// The owner's URL for migrations when `database_url` is the service role.
    pub migrate_database_url: Option<String>,
    /// Apply pending migrations at start (default true).
    pub migrate_on_start: Option<bool>,
    /// Sign-in attempts per email per minute (five times that per address).
    pub signin_rate_per_minute: Option<u32>,
    /// Invitation acceptances per user per minute.
    pub accept_rate_per_minute: Option<u32>,
    /// Peers (IPs or CIDR blocks: the gateways) whose `X-Forwarded-For`,
    /// `-Proto` and `-Host` are believed. Unset: loopback only; `[]`: none.
    #[serde(default, deserialize_with = "some_list_or_commas")]
    pub trusted_proxies: Option<Vec<String>>,
    pub redis_url: Option<String>,
    /// The CA a `rediss://` server's certificate is checked against
    /// (default: the system's trust store).
    pub redis_ca_file: Option<PathBuf>,
    pub session_ttl_secs: Option<Secs>,
    pub invitation_ttl_secs: Option<Secs>,
    pub cookie_secure: Option<bool>,
    /// Run the webhook delivery worker in this process (default true).
    pub webhooks_enabled: Option<bool>,
    pub webhook_poll_interval_ms: Option<Ms>,
    pub webhook_max_attempts: Option<u32>,
    pub webhook_backoff_base_secs: Option<Secs>,
    pub webhook_backoff_max_secs: Option<Secs>,
    pub webhook_timeout_secs: Option<Secs>,
    /// Networks (CIDRs) webhooks may reach although they are not public
    /// (loopback, private, link-local, metadata…). Default: none.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub webhook_allow_networks: Vec<String>,
    /// Start even when the database role escapes row-level security (a
    /// superuser, BYPASSRLS, or the tables' owner); quick trials only.
    pub allow_rls_bypass: Option<bool>,
    /// A directory whose `sign-in.html`, `sign-up.html` or `layout.html`
    /// replace the built-in page templates, and whose `logo.svg` or
    /// `logo.png` the pages show.
    pub pages_dir: Option<PathBuf>,
}

impl Settings {
    /// Whole seconds of a `*_secs` duration key.
    fn whole_secs(&self, key: &str, value: Secs) -> Result<i64> {
        value
            .whole_secs()
            .map_err(|e| anyhow!("{}: {e}", self.locate(key)))
    }

    /// The `[control_plane]` section as the control plane's config, and its
    /// listen address; [`crate::validate::control_plane`] checks the rest.
    pub fn control_plane(&self) -> Result<(String, ControlPlaneConfig)> {
        let s = self.control_plane.as_ref().ok_or_else(|| {
            anyhow!(
                "{}: missing `[control_plane]` section",
                self.sources.origin()
            )
        })?;
        let mut c = ControlPlaneConfig::new(s.database_url.clone());
        c.redis_url = s.redis_url.clone();
        c.redis_ca_file = s.redis_ca_file.clone();
        c.issuer = self.session.issuer.clone();
        c.audience = self.session.audience.clone();
        c.cookie_name = self.session.cookie_name.clone();
        c.policies = self.policy_source();
        c.policy_proofs = self.proof_settings()?;
        c.operator_token = std::env::var("WRNEXUS_OPERATOR_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        c.assertion_key = assertion_key_from_env()?;
        c.gateway_token = gateway_token_from_env();
        if let Some(v) = s.session_ttl_secs {
            c.session_ttl_secs = self.whole_secs("control_plane.session_ttl_secs", v)?;
        }
        if let Some(v) = s.invitation_ttl_secs {
            c.invitation_ttl_secs = self.whole_secs("control_plane.invitation_ttl_secs", v)?;
        }
        if let Some(v) = s.cookie_secure {
            c.cookie_secure = v;
        }
        c.migrate_database_url = s.migrate_database_url.clone();
        if let Some(v) = s.migrate_on_start {
            c.migrate_on_start = v;
        }
        if let Some(v) = s.allow_rls_bypass {
            c.allow_rls_bypass = v;
        }
        if let Some(v) = s.signin_rate_per_minute {
            c.rate_limits.signin_per_minute = v;
        }
        if let Some(v) = s.accept_rate_per_minute {
            c.rate_limits.accept_per_minute = v;
        }
        if let Some(v) = &s.trusted_proxies {
            c.trusted_proxies = TrustedProxies::parse(v)
                .map_err(|e| anyhow!("{}: {e}", self.locate("control_plane.trusted_proxies")))?;
        }
        let w = &mut c.webhooks;
        if let Some(v) = s.webhooks_enabled {
            w.enabled = v;
        }
        if let Some(v) = s.webhook_poll_interval_ms {
            w.poll_interval = v.duration.max(Duration::from_millis(10));
        }
        if let Some(v) = s.webhook_max_attempts {
            w.max_attempts = v.max(1);
        }
        if let Some(v) = s.webhook_backoff_base_secs {
            w.backoff_base = v.duration;
        }
        if let Some(v) = s.webhook_backoff_max_secs {
            w.backoff_max = v.duration;
        }
        if let Some(v) = s.webhook_timeout_secs {
            w.timeout = v.duration.max(Duration::from_secs(1));
        }
        w.allow_networks = parse_networks(&s.webhook_allow_networks).map_err(|e| {
            anyhow!(
                "{}: {e}",
                self.locate("control_plane.webhook_allow_networks")
            )
        })?;
        c.pages = Pages::load(s.pages_dir.as_deref())
            .map_err(|e| anyhow!("{}: {e}", self.locate("control_plane.pages_dir")))?;
        self.billing.apply(&mut c.billing);
        Ok((s.listen.clone(), c))
    }
}
