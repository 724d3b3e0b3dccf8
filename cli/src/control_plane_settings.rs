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
    /// Invitations mailed (sent or resent) per acting user or API key per
    /// minute (five times that per address).
    pub invite_rate_per_minute: Option<u32>,
    /// Account mail asked for ("forgot password", a new verification link,
    /// a change of email) and reset forms sent, per email or user per
    /// minute (five times that per address).
    pub account_rate_per_minute: Option<u32>,
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
    /// The address people reach the gateway at (`https://app.example.com`):
    /// every mailed link is built on it. Default `http://127.0.0.1:8080`.
    pub public_url: Option<String>,
    /// How long an email verification link works (default 24h).
    pub verification_ttl_secs: Option<Secs>,
    /// How long a password reset link works (default 1h).
    pub reset_ttl_secs: Option<Secs>,
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
    /// The DNS server (`ip:port`, or an IP for port 53) asked, over UDP and
    /// TCP, for the records that prove workspaces' domains. Default: the
    /// system's resolvers.
    pub dns_resolver: Option<String>,
    /// How often a verified domain's record is checked again (default 24h).
    pub domain_recheck_interval_secs: Option<Secs>,
    /// Run the domain re-check worker in this process (default true).
    pub domain_worker_enabled: Option<bool>,
    /// The key workspace connections' client secrets are sealed with: the
    /// base64 of 32 random bytes (or `WRNEXUS_SECRETS_KEY`, preferred).
    /// Unset: workspaces cannot configure single sign-on.
    pub secrets_key: Option<String>,
    /// Networks (CIDRs) workspaces' identity providers may be fetched at
    /// although they are not public. Default: none.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub sso_allow_networks: Vec<String>,
    /// Instance-wide OpenID Connect providers, offered on the sign-in page.
    #[serde(default)]
    pub oidc_providers: Vec<crate::sso_settings::OidcProviderSettings>,
    /// Start even when the database role escapes row-level security (a
    /// superuser, BYPASSRLS, or the tables' owner); quick trials only.
    pub allow_rls_bypass: Option<bool>,
    /// A directory whose `sign-in.html`, `sign-up.html` or `layout.html`
    /// replace the built-in page templates, and whose `logo.svg` or
    /// `logo.png` the pages show.
    pub pages_dir: Option<PathBuf>,
}

/// A public URL as links are built on it: an absolute `http(s)://` URL
/// with a host, no path but `/`, no query or fragment; without a trailing `/`.
pub fn public_url(text: &str) -> Result<String, String> {
    let bad =
        |why: &str| format!("`{text}` is not a public URL like https://app.example.com: {why}");
    let uri: http::Uri = text.parse().map_err(|_| bad("it does not parse"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("the scheme must be http:// or https://"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    if text.contains('@') {
        return Err(bad("it may not hold credentials"));
    }
    if uri.query().is_some() || text.contains('#') {
        return Err(bad("it may not have a query or fragment"));
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(bad("it may not have a path (the gateway serves at `/`)"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// A DNS server's address: `ip:port`, `[v6]:port`, or an IP (port 53).
pub fn dns_resolver(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<std::net::IpAddr>()
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .map_err(|_| format!("`{text}` is not a DNS server address like 127.0.0.1:5353"))
}

impl Settings {
    /// Whole seconds of a `*_secs` duration key, at least one.
    fn positive_secs(&self, key: &str, value: Secs) -> Result<i64> {
        match self.whole_secs(key, value)? {
            secs if secs >= 1 => Ok(secs),
            _ => Err(anyhow!("{}: must be at least 1 second", self.locate(key))),
        }
    }

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
        c.require_verified_email = self.session.require_verified_email
            || self
                .gateway
                .as_ref()
                .is_some_and(|g| g.require_verified_email == Some(true));
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
        if let Some(v) = &s.public_url {
            c.public_url = public_url(v)
                .map_err(|e| anyhow!("{}: {e}", self.locate("control_plane.public_url")))?;
            c.public_url_set = true;
        }
        if let Some(v) = s.verification_ttl_secs {
            c.verification_ttl_secs =
                self.positive_secs("control_plane.verification_ttl_secs", v)?;
        }
        if let Some(v) = s.reset_ttl_secs {
            c.reset_ttl_secs = self.positive_secs("control_plane.reset_ttl_secs", v)?;
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
        if let Some(v) = s.invite_rate_per_minute {
            c.rate_limits.invite_per_minute = v;
        }
        if let Some(v) = s.account_rate_per_minute {
            c.rate_limits.account_per_minute = v;
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
        if let Some(v) = &s.dns_resolver {
            c.sso.dns_resolver = Some(
                dns_resolver(v)
                    .map_err(|e| anyhow!("{}: {e}", self.locate("control_plane.dns_resolver")))?,
            );
        }
        if let Some(v) = s.domain_recheck_interval_secs {
            let secs = self.positive_secs("control_plane.domain_recheck_interval_secs", v)?;
            c.sso.domain_recheck_interval = Duration::from_secs(secs.unsigned_abs());
        }
        if let Some(v) = s.domain_worker_enabled {
            c.sso.domain_worker_enabled = v;
        }
        crate::sso_settings::apply(
            self,
            s.secrets_key.as_deref(),
            &s.sso_allow_networks,
            &s.oidc_providers,
            &mut c.sso,
        )?;
        c.pages = Pages::load(s.pages_dir.as_deref())
            .map_err(|e| anyhow!("{}: {e}", self.locate("control_plane.pages_dir")))?;
        self.billing.apply(&mut c.billing);
        c.mail = self.mail.config(
            &self.billing,
            &self.sources,
            crate::mail_settings::smtp_url_from_env(),
        )?;
        Ok((s.listen.clone(), c))
    }
}

#[cfg(test)]
mod tests {
    use super::{dns_resolver, public_url};
    use crate::settings::Settings;

    const BASE: &str =
        "[control_plane]\nlisten = \"127.0.0.1:7070\"\ndatabase_url = \"sqlite://x.db\"\n";

    fn control_plane(text: &str) -> wrnexus_control_plane::ControlPlaneConfig {
        let s = Settings::parse_with_env(text, "t.toml", []).unwrap();
        s.control_plane().unwrap().1
    }

    #[test]
    fn the_verified_email_requirement_is_shared_with_the_control_plane() {
        assert!(!control_plane(BASE).require_verified_email);
        let c = control_plane(&format!("[session]\nrequire_verified_email = true\n{BASE}"));
        assert!(c.require_verified_email);
        // The older spelling, under `[gateway]`, still counts for both.
        let gateway = "[gateway]\nlisten = \"127.0.0.1:8080\"\n\
                       control_plane_url = \"http://127.0.0.1:7070\"\n\
                       upstream = \"http://127.0.0.1:2\"\nrequire_verified_email = true\n";
        let s = Settings::parse_with_env(&format!("{BASE}{gateway}"), "t.toml", []).unwrap();
        assert!(s.control_plane().unwrap().1.require_verified_email);
        assert!(s.gateway().unwrap().require_verified_email);
    }

    #[test]
    fn mail_through_smtp_without_a_public_url_is_warned_about() {
        let smtp = "[mail]\nsmtp_url = \"smtp://mail.example.com:25\"\n";
        let warning = control_plane(&format!("{BASE}{smtp}"))
            .public_url_warning()
            .unwrap();
        assert!(
            warning.contains("public_url is not set") && warning.contains("http://127.0.0.1:8080"),
            "{warning}"
        );
        let set = format!("{BASE}public_url = \"https://app.example.com\"\n{smtp}");
        assert_eq!(control_plane(&set).public_url_warning(), None);
        // No SMTP server: mail waits in the outbox, nobody gets a link yet.
        assert_eq!(control_plane(BASE).public_url_warning(), None);
    }

    #[test]
    fn the_domain_check_settings_reach_the_control_plane() {
        let c = control_plane(BASE);
        assert_eq!(c.sso.dns_resolver, None);
        assert_eq!(c.sso.domain_recheck_interval.as_secs(), 86400);
        assert!(c.sso.domain_worker_enabled);
        let c = control_plane(&format!(
            "{BASE}dns_resolver = \"127.0.0.1:5353\"\ndomain_recheck_interval_secs = \"1h\"\n\
             domain_worker_enabled = false\n"
        ));
        assert_eq!(c.sso.dns_resolver, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(c.sso.domain_recheck_interval.as_secs(), 3600);
        assert!(!c.sso.domain_worker_enabled);
        assert_eq!(dns_resolver("10.0.0.53").unwrap().port(), 53);
        assert_eq!(dns_resolver("[::1]:53").unwrap().port(), 53);
        let s = Settings::parse_with_env(
            &format!("{BASE}dns_resolver = \"dns.example.com\"\n"),
            "t.toml",
            [],
        )
        .unwrap();
        let err = format!("{:#}", s.control_plane().unwrap_err());
        assert!(
            err.contains("`control_plane.dns_resolver`") && err.contains("127.0.0.1:5353"),
            "{err}"
        );
    }

    #[test]
    fn a_public_url_is_an_origin() {
        assert_eq!(
            public_url("https://app.example.com/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            public_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for (bad, why) in [
            ("app.example.com", "scheme"),
            ("ftp://app.example.com", "scheme"),
            ("https://app.example.com/app", "path"),
            ("https://app.example.com/?x=1", "query"),
            ("https://app.example.com/#top", "fragment"),
            ("https://u:p@app.example.com", "credentials"),
        ] {
            let err = public_url(bad).unwrap_err();
            assert!(
                err.contains(&format!("`{bad}`")) && err.contains(why),
                "{err}"
            );
        }
    }

    #[test]
    fn the_front_door_settings_reach_the_control_plane() {
        let base =
            "[control_plane]\nlisten = \"127.0.0.1:7070\"\ndatabase_url = \"sqlite://x.db\"\n";
        let s = Settings::parse_with_env(
            &format!("{base}public_url = \"https://app.example.com/\"\nverification_ttl_secs = \"2h\"\nreset_ttl_secs = 600\n"),
            "t.toml",
            [],
        )
        .unwrap();
        let (_, c) = s.control_plane().unwrap();
        assert_eq!(c.public_url, "https://app.example.com");
        assert_eq!(c.link("/x?y"), "https://app.example.com/x?y");
        assert_eq!((c.verification_ttl_secs, c.reset_ttl_secs), (7200, 600));

        let s = Settings::parse_with_env(
            &format!("{base}public_url = \"https://app.example.com/app\"\n"),
            "t.toml",
            [],
        )
        .unwrap();
        let err = format!("{:#}", s.control_plane().unwrap_err());
        assert!(
            err.starts_with("t.toml:4: `control_plane.public_url`: "),
            "{err}"
        );
        let s = Settings::parse_with_env(
            base,
            "t.toml",
            [(
                "WRNEXUS_CONTROL_PLANE__RESET_TTL_SECS".to_string(),
                "0".to_string(),
            )],
        )
        .unwrap();
        let err = format!("{:#}", s.control_plane().unwrap_err());
        assert!(
            err.contains("`WRNEXUS_CONTROL_PLANE__RESET_TTL_SECS`: must be at least 1 second"),
            "{err}"
        );
    }
}
