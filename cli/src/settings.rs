//! The configuration file: one TOML file for every role, `WRNEXUS_SECTION__KEY`
//! environment overrides, unknown keys rejected naming file and key.

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_gateway::{GatewayConfig, Upstream};
use wrnexus_policies::PolicySource;
use wrnexus_policies::claims::{DEFAULT_AUDIENCE, DEFAULT_COOKIE_NAME, DEFAULT_ISSUER};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub session: SessionSettings,
    #[serde(default)]
    pub policies: PolicySettings,
    pub gateway: Option<GatewaySettings>,
    pub control_plane: Option<ControlPlaneSettings>,
}

/// Shared by gateway and control plane: they must agree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub issuer: String,
    pub audience: String,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            issuer: DEFAULT_ISSUER.to_string(),
            audience: DEFAULT_AUDIENCE.to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// A directory with `schema.cedarschema` and `*.cedar`; unset: the shipped policies.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub listen: String,
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    pub control_plane_url: String,
    pub upstream: String,
    pub redis_url: Option<String>,
    pub cache_capacity: Option<usize>,
    pub token_cache_capacity: Option<usize>,
    pub cache_ttl_secs: Option<u64>,
    pub stale_bound_secs: Option<u64>,
    pub threads: Option<usize>,
}

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
    pub redis_url: Option<String>,
    pub session_ttl_secs: Option<i64>,
    pub invitation_ttl_secs: Option<i64>,
    pub cookie_secure: Option<bool>,
    /// Run the webhook delivery worker in this process (default true).
    pub webhooks_enabled: Option<bool>,
    pub webhook_poll_interval_ms: Option<u64>,
    pub webhook_max_attempts: Option<u32>,
    pub webhook_backoff_base_secs: Option<u64>,
    pub webhook_backoff_max_secs: Option<u64>,
    pub webhook_timeout_secs: Option<u64>,
}

fn default_admin_listen() -> String {
    "127.0.0.1:9090".to_string()
}

/// Overrides from `WRNEXUS_<SECTION>__<KEY>` variables, as (section, key, value).
fn env_overrides() -> Vec<(String, String, String)> {
    std::env::vars()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix("WRNEXUS_")?;
            let (section, key) = rest.split_once("__")?;
            Some((section.to_lowercase(), key.to_lowercase(), value))
        })
        .collect()
}

/// A TOML literal if the value reads as one (numbers, booleans), else a string.
fn env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

impl Settings {
    /// Read `path`, apply environment overrides, and check every key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file `{}`", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| anyhow!("{origin}: {e}"))?;
        for (section, key, value) in env_overrides() {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(section_table) = entry.as_table_mut() else {
                return Err(anyhow!(
                    "WRNEXUS_{}__{}: `{section}` is not a section",
                    section.to_uppercase(),
                    key.to_uppercase()
                ));
            };
            section_table.insert(key, env_value(&value));
        }
        let merged = toml::to_string(&table)?;
        toml::from_str(&merged)
            .map_err(|e| anyhow!("{origin} (with WRNEXUS_* overrides): {}", e.message()))
    }

    fn policy_source(&self) -> PolicySource {
        self.policies
            .dir
            .clone()
            .map_or(PolicySource::Shipped, PolicySource::Dir)
    }

    pub fn gateway(&self, origin: &str) -> Result<GatewayConfig> {
        let g = self
            .gateway
            .as_ref()
            .ok_or_else(|| anyhow!("{origin}: missing `[gateway]` section"))?;
        let upstream =
            Upstream::parse(&g.upstream).map_err(|e| anyhow!("{origin}: gateway.upstream: {e}"))?;
        let mut c = GatewayConfig::new(g.listen.clone(), g.control_plane_url.clone(), upstream);
        c.admin_listen = g.admin_listen.clone();
        c.redis_url = g.redis_url.clone();
        c.issuer = self.session.issuer.clone();
        c.audience = self.session.audience.clone();
        c.cookie_name = self.session.cookie_name.clone();
        c.policies = self.policy_source();
        if let Some(v) = g.cache_capacity {
            c.cache_capacity = v;
        }
        if let Some(v) = g.token_cache_capacity {
            c.token_cache_capacity = v;
        }
        if let Some(v) = g.cache_ttl_secs {
            c.cache_ttl = Duration::from_secs(v);
        }
        if let Some(v) = g.stale_bound_secs {
            c.stale_bound = Duration::from_secs(v);
        }
        if let Some(v) = g.threads {
            c.threads = v;
        }
        Ok(c)
    }

    pub fn control_plane(&self, origin: &str) -> Result<(String, ControlPlaneConfig)> {
        let s = self
            .control_plane
            .as_ref()
            .ok_or_else(|| anyhow!("{origin}: missing `[control_plane]` section"))?;
        let mut c = ControlPlaneConfig::new(s.database_url.clone());
        c.redis_url = s.redis_url.clone();
        c.issuer = self.session.issuer.clone();
        c.audience = self.session.audience.clone();
        c.cookie_name = self.session.cookie_name.clone();
        c.policies = self.policy_source();
        c.operator_token = std::env::var("WRNEXUS_OPERATOR_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        if let Some(v) = s.session_ttl_secs {
            c.session_ttl_secs = v;
        }
        if let Some(v) = s.invitation_ttl_secs {
            c.invitation_ttl_secs = v;
        }
        if let Some(v) = s.cookie_secure {
            c.cookie_secure = v;
        }
        c.migrate_database_url = s.migrate_database_url.clone();
        if let Some(v) = s.migrate_on_start {
            c.migrate_on_start = v;
        }
        if let Some(v) = s.signin_rate_per_minute {
            c.rate_limits.signin_per_minute = v;
        }
        if let Some(v) = s.accept_rate_per_minute {
            c.rate_limits.accept_per_minute = v;
        }
        let w = &mut c.webhooks;
        if let Some(v) = s.webhooks_enabled {
            w.enabled = v;
        }
        if let Some(v) = s.webhook_poll_interval_ms {
            w.poll_interval = Duration::from_millis(v.max(10));
        }
        if let Some(v) = s.webhook_max_attempts {
            w.max_attempts = v.max(1);
        }
        if let Some(v) = s.webhook_backoff_base_secs {
            w.backoff_base = Duration::from_secs(v);
        }
        if let Some(v) = s.webhook_backoff_max_secs {
            w.backoff_max = Duration::from_secs(v);
        }
        if let Some(v) = s.webhook_timeout_secs {
            w.timeout = Duration::from_secs(v.max(1));
        }
        Ok((s.listen.clone(), c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::parse("[gateway]\nlisten = \"x\"\nlistn = 1\n", "example.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("example.toml"), "{err}");
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn webhook_settings_reach_the_control_plane() {
        let text = "[control_plane]\nlisten = \"x\"\ndatabase_url = \"sqlite://t\"\n\
                    webhook_max_attempts = 3\nwebhook_backoff_base_secs = 2\n\
                    webhook_backoff_max_secs = 60\nwebhook_timeout_secs = 4\n\
                    webhook_poll_interval_ms = 250\nwebhooks_enabled = false\n";
        let (_, c) = Settings::parse(text, "t.toml")
            .and_then(|s| s.control_plane("t.toml"))
            .unwrap();
        assert_eq!(c.webhooks.max_attempts, 3);
        assert_eq!(c.webhooks.backoff_base, Duration::from_secs(2));
        assert_eq!(c.webhooks.backoff_max, Duration::from_secs(60));
        assert_eq!(c.webhooks.timeout, Duration::from_secs(4));
        assert_eq!(c.webhooks.poll_interval, Duration::from_millis(250));
        assert!(!c.webhooks.enabled);
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../deploy/config/wrnexus.example.toml");
        let settings = Settings::parse(text, "wrnexus.example.toml").unwrap();
        let (_, c) = settings.control_plane("wrnexus.example.toml").unwrap();
        assert_eq!(c.webhooks.max_attempts, 8);
    }

    #[test]
    fn env_values_keep_their_type() {
        assert_eq!(env_value("42"), toml::Value::Integer(42));
        assert_eq!(env_value("true"), toml::Value::Boolean(true));
        assert_eq!(
            env_value("127.0.0.1:8080"),
            toml::Value::String("127.0.0.1:8080".into())
        );
    }
}
