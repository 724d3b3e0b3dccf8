//! The `[gateway]` section and its `[[gateway.routes]]`, and how they make
//! a [`GatewayConfig`]. The checks that need more than one key (policies,
//! routes, addresses) are in [`crate::validate`].

use crate::durations::{Ms, Secs};
use crate::settings::{Settings, assertion_key_from_env, gateway_token_from_env, list_or_commas};
use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use wrnexus_gateway::config::{
    Balance, DEFAULT_RESOLVE_INTERVAL, GatewayToken, HealthCheck, Protocol, UpstreamOptions,
    UpstreamTls,
};
use wrnexus_gateway::config::{ProjectConfig, ProjectFrom};
use wrnexus_gateway::{ActionRule, GatewayConfig, RouteConfig, Upstream};
use wrnexus_policies::PolicySource;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub listen: String,
    /// TLS on `listen` (`[gateway.tls]`).
    pub tls: Option<crate::tls_settings::TlsSettings>,
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
    /// The older spelling of `[session] require_verified_email` (which
    /// the control plane reads too); `true` here turns it on as well.
    pub require_verified_email: Option<bool>,
    /// How long an idle client connection is kept (HTTP/1.1 between
    /// requests, HTTP/2 without a stream); at least one second.
    pub keepalive_timeout_secs: Option<Secs>,
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
    /// One JSON line per request: `true` (stdout), a target, or
    /// `{ enabled, target }`. Default: off.
    pub access_log: Option<crate::access_log_settings::AccessLogSetting>,
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
    /// One URL, or a list (one scheme for all) balanced by `balance`.
    #[serde(deserialize_with = "list_or_commas")]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub actions: Vec<ActionSettings>,
    /// Requests are decided on the project at `{project_id}` of this path
    /// pattern, e.g. `/w/{workspace_id}/p/{project_id}`…
    pub project_path: Option<String>,
    /// …or named by this header of the app's own client.
    pub project_header: Option<String>,
    /// A request naming no project is refused (400 `project_required`).
    #[serde(default)]
    pub project_required: bool,
    pub connect_timeout_ms: Option<Ms>,
    pub read_timeout_ms: Option<Ms>,
    pub idle_timeout_secs: Option<Secs>,
    /// `round_robin` (default) or `least_connections`.
    pub balance: Option<BalanceSetting>,
    /// `http1` (default) or `h2` (h2 over TLS, prior-knowledge h2c over TCP).
    pub protocol: Option<ProtocolSetting>,
    /// `https://` upstreams: the CA their certificates chain to (default:
    /// the system's trust store)…
    pub ca_file: Option<PathBuf>,
    /// …a client certificate and key for upstreams that ask (mTLS)…
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// …and the name sent and verified instead of the URL's host.
    pub tls_server_name: Option<String>,
    /// Active health checks: `GET` this path expecting a 2xx (absent: a
    /// TCP connect). Checks run when any `health_check_*` or threshold key
    /// is set, or the route has several upstreams; interval 0 turns them off.
    pub health_check_path: Option<String>,
    pub health_check_interval_ms: Option<Ms>,
    pub health_check_timeout_ms: Option<Ms>,
    /// Consecutive passes that put an address back in balance…
    pub healthy_threshold: Option<usize>,
    /// …and consecutive failures that take it out.
    pub unhealthy_threshold: Option<usize>,
    /// How often upstream host names are resolved again (0: never).
    pub resolve_interval_secs: Option<Secs>,
}

/// `balance` of a route.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceSetting {
    RoundRobin,
    LeastConnections,
}

/// `protocol` of a route.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolSetting {
    Http1,
    H2,
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
    /// The route's upstream URLs; an error names the one at fault.
    fn upstreams(&self, settings: &Settings, index: usize) -> Result<Vec<Upstream>> {
        let key = format!("gateway.routes.{index}.upstream");
        Upstream::parse_list(&self.upstream).map_err(|(i, e)| {
            let at = match self.upstream.len() {
                0 | 1 => key.clone(),
                _ => format!("{key}.{i}"),
            };
            anyhow!("{}: {e}", settings.locate(&at))
        })
    }

    /// Balancing, protocol, TLS, health checks and re-resolution.
    fn reach(&self, several: bool) -> UpstreamOptions {
        let checks_asked = self.health_check_path.is_some()
            || self.health_check_interval_ms.is_some()
            || self.health_check_timeout_ms.is_some()
            || self.healthy_threshold.is_some()
            || self.unhealthy_threshold.is_some();
        let defaults = HealthCheck::default();
        let health_check = HealthCheck {
            path: self.health_check_path.clone(),
            interval: self
                .health_check_interval_ms
                .map_or(defaults.interval, |v| v.duration),
            timeout: self
                .health_check_timeout_ms
                .map_or(defaults.timeout, |v| v.duration),
            unhealthy_threshold: self
                .unhealthy_threshold
                .unwrap_or(defaults.unhealthy_threshold),
            healthy_threshold: self.healthy_threshold.unwrap_or(defaults.healthy_threshold),
        };
        UpstreamOptions {
            balance: match self.balance {
                Some(BalanceSetting::LeastConnections) => Balance::LeastConnections,
                Some(BalanceSetting::RoundRobin) | None => Balance::RoundRobin,
            },
            protocol: match self.protocol {
                Some(ProtocolSetting::H2) => Protocol::H2,
                Some(ProtocolSetting::Http1) | None => Protocol::Http1,
            },
            tls: UpstreamTls {
                ca_file: self.ca_file.clone(),
                client_cert_file: self.client_cert_file.clone(),
                client_key_file: self.client_key_file.clone(),
                server_name: self.tls_server_name.clone(),
            },
            health_check: ((checks_asked || several) && !health_check.interval.is_zero())
                .then_some(health_check),
            resolve_interval: self
                .resolve_interval_secs
                .map_or(DEFAULT_RESOLVE_INTERVAL, |v| v.duration),
        }
    }

    fn to_config(&self, settings: &Settings, index: usize) -> Result<RouteConfig> {
        let name = self.name.clone().unwrap_or_else(|| {
            format!("{}{}", self.host.as_deref().unwrap_or(""), self.path_prefix)
        });
        let upstreams = self.upstreams(settings, index)?;
        let from = match (&self.project_path, &self.project_header) {
            (Some(path), None) => Some(ProjectFrom::Path(path.clone())),
            (None, Some(header)) => Some(ProjectFrom::Header(header.clone())),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(anyhow!(
                    "{}: a route names its project by `project_path` or `project_header`, not both",
                    settings.locate(&format!("gateway.routes.{index}.project_header"))
                ));
            }
        };
        if from.is_none() && self.project_required {
            return Err(anyhow!(
                "{}: `project_required` needs `project_path` or `project_header`",
                settings.locate(&format!("gateway.routes.{index}.project_required"))
            ));
        }
        let project = from.map(|from| ProjectConfig {
            from,
            required: self.project_required,
        });
        Ok(RouteConfig {
            name,
            host: self.host.clone(),
            path_prefix: self.path_prefix.clone(),
            reach: self.reach(upstreams.len() > 1),
            upstreams,
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
            project,
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
            (None, Some(first)) => first.upstreams[0].clone(),
            (None, None) => {
                return Err(anyhow!(
                    "{}: `[gateway]` needs `upstream` or at least one `[[gateway.routes]]`",
                    self.locate("gateway")
                ));
            }
        };
        let mut c = GatewayConfig::new(g.listen.clone(), g.control_plane_url.clone(), upstream);
        c.tls = g.tls.as_ref().map(|t| t.to_config(self)).transpose()?;
        c.assertion_key = assertion_key_from_env()?;
        c.gateway_token = gateway_token_from_env()
            .as_deref()
            .and_then(GatewayToken::new);
        if let Some(v) = g.key_usage_flush_ms {
            c.key_usage_flush = v.duration.max(Duration::from_millis(10));
        }
        c.access_log = g.access_log.as_ref().and_then(|a| a.target());
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
        if let Some(v) = g.keepalive_timeout_secs {
            if v.duration < Duration::from_secs(1) {
                return Err(anyhow!(
                    "{}: [gateway] keepalive_timeout_secs must be at least 1 second",
                    self.locate("gateway.keepalive_timeout_secs")
                ));
            }
            c.keepalive_timeout = v.duration;
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
        c.require_verified_email =
            self.session.require_verified_email || g.require_verified_email.unwrap_or(false);
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

#[cfg(test)]
mod tests {
    use crate::settings::Settings;
    use wrnexus_gateway::config::ProjectFrom;

    const GATEWAY: &str = "[gateway]\nlisten = \"127.0.0.1:8080\"\n\
                           control_plane_url = \"http://127.0.0.1:1\"\n";

    fn routes(route: &str) -> anyhow::Result<Vec<wrnexus_gateway::RouteConfig>> {
        let text =
            format!("{GATEWAY}[[gateway.routes]]\nupstream = \"http://127.0.0.1:2\"\n{route}");
        Ok(Settings::parse_with_env(&text, "t.toml", [])?
            .gateway()?
            .routes)
    }

    #[test]
    fn the_verified_email_requirement_comes_from_the_session_section() {
        let text = format!("{GATEWAY}upstream = \"http://127.0.0.1:2\"\n");
        let off = Settings::parse_with_env(&text, "t.toml", []).unwrap();
        assert!(!off.gateway().unwrap().require_verified_email);
        let on = Settings::parse_with_env(
            &format!("[session]\nrequire_verified_email = true\n{text}"),
            "t.toml",
            [],
        )
        .unwrap();
        assert!(on.gateway().unwrap().require_verified_email);
        let env = Settings::parse_with_env(
            &text,
            "t.toml",
            [(
                "WRNEXUS_SESSION__REQUIRE_VERIFIED_EMAIL".to_string(),
                "true".to_string(),
            )],
        )
        .unwrap();
        assert!(env.gateway().unwrap().require_verified_email);
    }

    #[test]
    fn routes_name_their_project_by_path_or_header() {
        let r = routes("project_path = \"/w/{workspace_id}/p/{project_id}\"\n").unwrap();
        let project = r[0].project.clone().unwrap();
        assert_eq!(
            project.from,
            ProjectFrom::Path("/w/{workspace_id}/p/{project_id}".into())
        );
        assert!(!project.required);
        let r = routes("project_header = \"X-App-Project\"\nproject_required = true\n").unwrap();
        let project = r[0].project.clone().unwrap();
        assert_eq!(project.from, ProjectFrom::Header("X-App-Project".into()));
        assert!(project.required);
        assert!(routes("").unwrap()[0].project.is_none());
        let both = routes("project_path = \"/p/{project_id}\"\nproject_header = \"x-p\"\n");
        let err = format!("{:#}", both.unwrap_err());
        assert!(
            err.contains("gateway.routes.0.project_header") && err.contains("not both"),
            "{err}"
        );
        let alone = routes("project_required = true\n");
        let err = format!("{:#}", alone.unwrap_err());
        assert!(err.contains("gateway.routes.0.project_required"), "{err}");
    }
}
