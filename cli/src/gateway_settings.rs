//! The `[gateway]` section and its `[[gateway.routes]]`, and how they make
//! a [`GatewayConfig`]. The checks that need more than one key (policies,
//! routes, addresses) are in [`crate::validate`].

use crate::durations::{Ms, Secs};
use crate::settings::{Settings, assertion_key_from_env, gateway_token_from_env, list_or_commas};
use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::time::Duration;
use wrnexus_gateway::config::GatewayToken;
use wrnexus_gateway::{ActionRule, GatewayConfig, RouteConfig, Upstream};
use wrnexus_policies::PolicySource;

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
    /// IPs or CIDR blocks whose forwarding headers are believed.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    pub redis_url: Option<String>,
    /// The CA a `rediss://` server's certificate is checked against
    /// (default: the system's trust store).
    pub redis_ca_file: Option<std::path::PathBuf>,
    pub cache_capacity: Option<usize>,
    pub token_cache_capacity: Option<usize>,
    pub cache_ttl_secs: Option<Secs>,
    pub stale_bound_secs: Option<Secs>,
    /// Without `redis_url` there is no invalidation source: start anyway,
    /// revocations taking effect only when `cache_ttl_secs` expires.
    pub allow_stale_revocation: Option<bool>,
    /// Paths `{prefix}{workspace_id}/…` name their workspace ("" turns it off).
    pub workspace_path_prefix: Option<String>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_timeout_secs: Option<Secs>,
    /// After SIGTERM, how long the gateway keeps accepting (already
    /// unready) before it drains: load balancers notice meanwhile.
    pub shutdown_delay_ms: Option<Ms>,
    /// `aud` of the signed assertion header (signed when
    /// `WRNEXUS_ASSERTION_KEY` is set).
    pub assertion_audience: Option<String>,
    pub threads: Option<usize>,
    /// How often API key use is reported to the control plane (needs
    /// `WRNEXUS_GATEWAY_TOKEN`).
    pub key_usage_flush_ms: Option<Ms>,
}

fn default_admin_listen() -> String {
    "127.0.0.1:9090".to_string()
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
    pub connect_timeout_ms: Option<Ms>,
    pub read_timeout_ms: Option<Ms>,
    pub idle_timeout_secs: Option<Secs>,
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

/// The upstream at `url`, read by the gateway's own parser; an error names
/// where `key` was set.
fn upstream(settings: &Settings, key: &str, url: &str) -> Result<Upstream> {
    Upstream::parse(url).map_err(|e| anyhow!("{}: {e}", settings.locate(key)))
}

impl RouteSettings {
    fn to_config(&self, settings: &Settings, index: usize) -> Result<RouteConfig> {
        let name = self.name.clone().unwrap_or_else(|| {
            format!("{}{}", self.host.as_deref().unwrap_or(""), self.path_prefix)
        });
        let key = format!("gateway.routes.{index}.upstream");
        Ok(RouteConfig {
            name,
            host: self.host.clone(),
            path_prefix: self.path_prefix.clone(),
            upstream: upstream(settings, &key, &self.upstream)?,
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
            connect_timeout: self.connect_timeout_ms.map(|v| v.duration),
            read_timeout: self.read_timeout_ms.map(|v| v.duration),
            idle_timeout: self.idle_timeout_secs.map(|v| v.duration),
        })
    }
}

impl Settings {
    /// The `[gateway]` section (with `[session]` and `[policies]`) as the
    /// gateway's config; [`crate::validate::gateway`] checks the rest.
    pub fn gateway(&self) -> Result<GatewayConfig> {
        let g = self
            .gateway
            .as_ref()
            .ok_or_else(|| anyhow!("{}: missing `[gateway]` section", self.sources.origin()))?;
        let routes = g
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_config(self, i))
            .collect::<Result<Vec<_>>>()?;
        let upstream = match (&g.upstream, routes.first()) {
            (Some(url), _) => upstream(self, "gateway.upstream", url)?,
            // Unused: the routes serve every request.
            (None, Some(first)) => first.upstream.clone(),
            (None, None) => {
                return Err(anyhow!(
                    "{}: `[gateway]` needs `upstream` or at least one `[[gateway.routes]]`",
                    self.locate("gateway")
                ));
            }
        };
        let mut c = GatewayConfig::new(g.listen.clone(), g.control_plane_url.clone(), upstream);
        c.assertion_key = assertion_key_from_env()?;
        c.gateway_token = gateway_token_from_env()
            .as_deref()
            .and_then(GatewayToken::new);
        if let Some(v) = g.key_usage_flush_ms {
            c.key_usage_flush = v.duration.max(Duration::from_millis(10));
        }
        c.shadow_policies = self.policies.shadow_dir.clone().map(PolicySource::Dir);
        if let Some(v) = self.policies.poll_interval_ms {
            if v.duration.is_zero() {
                return Err(anyhow!(
                    "{}: [policies] poll_interval_ms must be at least 1",
                    self.locate("policies.poll_interval_ms")
                ));
            }
            c.policy_poll = v.duration;
        }
        if let Some(v) = g.drain_timeout_secs {
            c.drain_timeout = v.duration;
        }
        if let Some(v) = g.shutdown_delay_ms {
            c.shutdown_delay = v.duration;
        }
        if let Some(aud) = &g.assertion_audience {
            c.assertion_audience = aud.clone();
        }
        c.routes = routes;
        c.trusted_proxies = g.trusted_proxies.clone();
        c.admin_listen = g.admin_listen.clone();
        c.redis_url = g.redis_url.clone();
        c.redis_ca_file = g.redis_ca_file.clone();
        c.issuer = self.session.issuer.clone();
        c.audience = self.session.audience.clone();
        c.cookie_name = self.session.cookie_name.clone();
        c.policies = self.policy_source();
        c.policy_proofs = self.proof_settings()?;
        if let Some(v) = g.cache_capacity {
            c.cache_capacity = v;
        }
        if let Some(v) = g.token_cache_capacity {
            c.token_cache_capacity = v;
        }
        if let Some(v) = g.cache_ttl_secs {
            c.cache_ttl = v.duration;
        }
        if let Some(v) = &g.workspace_path_prefix {
            c.workspace_path_prefix = v.clone();
        }
        if let Some(v) = g.stale_bound_secs {
            c.stale_bound = v.duration;
        }
        if let Some(v) = g.allow_stale_revocation {
            c.allow_stale_revocation = v;
        }
        if let Some(v) = g.threads {
            c.threads = v;
        }
        Ok(c)
    }
}
