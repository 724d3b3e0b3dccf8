//! The configuration file: one TOML file for every role, `WRNEXUS_SECTION__KEY`
//! environment overrides, unknown keys rejected naming file and key.

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::api::forwarded::TrustedProxies;
use wrnexus_control_plane::webhook_target::parse_networks;
use wrnexus_gateway::{ActionRule, GatewayConfig, RouteConfig, Upstream};
use wrnexus_policies::PolicySource;
use wrnexus_policies::assertion::AssertionKey;
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
    #[serde(default)]
    pub billing: crate::billing_settings::BillingSettings,
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
    /// A candidate directory the gateway decides with beside the live one,
    /// counting and logging differences without enforcing them.
    pub shadow_dir: Option<PathBuf>,
    /// How often gateways look at the directories for changes, in
    /// milliseconds (default 250); SIGHUP reloads at once regardless.
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub listen: String,
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    pub control_plane_url: String,
    /// The single app, served at `/`, when no `[[gateway.routes]]` are given.
    pub upstream: Option<String>,
    #[serde(default)]
    pub routes: Vec<RouteSettings>,
    /// IPs or CIDR blocks whose forwarding headers are believed (from the
    /// environment, a comma-separated string).
    #[serde(default, deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    pub redis_url: Option<String>,
    pub cache_capacity: Option<usize>,
    pub token_cache_capacity: Option<usize>,
    pub cache_ttl_secs: Option<u64>,
    pub stale_bound_secs: Option<u64>,
    /// Without `redis_url` there is no invalidation source: start anyway,
    /// revocations taking effect only when `cache_ttl_secs` expires.
    pub allow_stale_revocation: Option<bool>,
    /// Paths `{prefix}{workspace_id}/…` name their workspace ("" turns it off).
    pub workspace_path_prefix: Option<String>,
    /// Seconds in-flight requests may take to finish after SIGTERM.
    pub drain_timeout_secs: Option<u64>,
    /// `aud` of the signed assertion header (signed when
    /// `WRNEXUS_ASSERTION_KEY` is set).
    pub assertion_audience: Option<String>,
    pub threads: Option<usize>,
    /// How often API key use is reported to the control plane (needs
    /// `WRNEXUS_GATEWAY_TOKEN`).
    pub key_usage_flush_ms: Option<u64>,
}

/// One `[[gateway.routes]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Default: the host (if any) and the path prefix.
    pub name: Option<String>,
    pub host: Option<String>,
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    pub upstream: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub actions: Vec<ActionSettings>,
    pub connect_timeout_ms: Option<u64>,
    pub read_timeout_ms: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
}

/// One `actions = [{ methods, path_prefix, action }]` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSettings {
    /// Empty or absent: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    pub action: String,
}

fn default_prefix() -> String {
    "/".to_string()
}

impl RouteSettings {
    fn to_config(&self, index: usize, origin: &str) -> Result<RouteConfig> {
        let name = self.name.clone().unwrap_or_else(|| {
            format!("{}{}", self.host.as_deref().unwrap_or(""), self.path_prefix)
        });
        let upstream = Upstream::parse(&self.upstream)
            .map_err(|e| anyhow!("{origin}: gateway.routes[{index}].upstream: {e}"))?;
        Ok(RouteConfig {
            name,
            host: self.host.clone(),
            path_prefix: self.path_prefix.clone(),
            upstream,
            public: self.public,
            actions: self
                .actions
                .iter()
                .map(|a| ActionRule {
                    methods: a.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
                    path_prefix: a.path_prefix.clone(),
                    action: a.action.clone(),
                })
                .collect(),
            connect_timeout: self.connect_timeout_ms.map(Duration::from_millis),
            read_timeout: self.read_timeout_ms.map(Duration::from_millis),
            idle_timeout: self.idle_timeout_secs.map(Duration::from_secs),
        })
    }
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
    /// Peers (IPs or CIDR blocks: the gateways) whose `X-Forwarded-For`,
    /// `-Proto` and `-Host` are believed. Unset: loopback only; `[]`: none.
    /// From the environment, a comma-separated string.
    #[serde(default, deserialize_with = "some_list_or_commas")]
    pub trusted_proxies: Option<Vec<String>>,
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
    /// Networks (CIDRs) webhooks may reach although they are not public
    /// (loopback, private, link-local, metadata…): a list, or from the
    /// environment a comma-separated string. Default: none.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub webhook_allow_networks: Vec<String>,
    /// Start even when the database role escapes row-level security (a
    /// superuser, BYPASSRLS, or the tables' owner); quick trials only.
    pub allow_rls_bypass: Option<bool>,
}

/// A list of strings, or one comma-separated string (how a list arrives
/// from a `WRNEXUS_*` variable).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Items {
        List(Vec<String>),
        One(String),
    }
    Ok(match Items::deserialize(d)? {
        Items::List(items) => items,
        Items::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// [`list_or_commas`] for a list whose absence means something.
fn some_list_or_commas<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    list_or_commas(d).map(Some)
}

/// The assertion signing key from `WRNEXUS_ASSERTION_KEY`, if set.
pub fn assertion_key_from_env() -> Result<Option<AssertionKey>> {
    match std::env::var("WRNEXUS_ASSERTION_KEY") {
        Ok(v) if !v.trim().is_empty() => Ok(Some(
            AssertionKey::from_secret(&v).map_err(|e| anyhow!("WRNEXUS_ASSERTION_KEY: {e}"))?,
        )),
        _ => Ok(None),
    }
}

/// The gateways' shared secret from `WRNEXUS_GATEWAY_TOKEN`, if set.
pub fn gateway_token_from_env() -> Option<String> {
    std::env::var("WRNEXUS_GATEWAY_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
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
        let routes = g
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_config(i, origin))
            .collect::<Result<Vec<_>>>()?;
        let upstream = match (&g.upstream, routes.first()) {
            (Some(url), _) => {
                Upstream::parse(url).map_err(|e| anyhow!("{origin}: gateway.upstream: {e}"))?
            }
            // Unused: the routes serve every request.
            (None, Some(first)) => first.upstream.clone(),
            (None, None) => {
                return Err(anyhow!(
                    "{origin}: `[gateway]` needs `upstream` or at least one `[[gateway.routes]]`"
                ));
            }
        };
        let mut c = GatewayConfig::new(g.listen.clone(), g.control_plane_url.clone(), upstream);
        c.assertion_key = assertion_key_from_env()?;
        c.gateway_token = gateway_token_from_env()
            .as_deref()
            .and_then(wrnexus_gateway::key_usage_report::GatewayToken::new);
        if let Some(v) = g.key_usage_flush_ms {
            c.key_usage_flush = Duration::from_millis(v.max(10));
        }
        c.shadow_policies = self.policies.shadow_dir.clone().map(PolicySource::Dir);
        if let Some(ms) = self.policies.poll_interval_ms {
            if ms == 0 {
                return Err(anyhow!(
                    "{origin}: [policies] poll_interval_ms must be at least 1"
                ));
            }
            c.policy_poll = Duration::from_millis(ms);
        }
        if let Some(v) = g.drain_timeout_secs {
            c.drain_timeout = Duration::from_secs(v);
        }
        if let Some(aud) = &g.assertion_audience {
            c.assertion_audience = aud.clone();
        }
        c.routes = routes;
        c.trusted_proxies = g.trusted_proxies.clone();
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
        if let Some(v) = &g.workspace_path_prefix {
            c.workspace_path_prefix = v.clone();
        }
        if let Some(v) = g.stale_bound_secs {
            c.stale_bound = Duration::from_secs(v);
        }
        if let Some(v) = g.allow_stale_revocation {
            c.allow_stale_revocation = v;
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
        c.assertion_key = assertion_key_from_env()?;
        c.gateway_token = gateway_token_from_env();
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
                .map_err(|e| anyhow!("{origin}: control_plane.trusted_proxies: {e}"))?;
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
        w.allow_networks = parse_networks(&s.webhook_allow_networks)
            .map_err(|e| anyhow!("{origin}: control_plane.webhook_allow_networks: {e}"))?;
        self.billing.apply(&mut c.billing);
        Ok((s.listen.clone(), c))
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
