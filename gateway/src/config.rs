//! Gateway settings: plain data, read by the runtime, importing none of it.

mod access_log;
mod routes;
mod tls;
mod token;
mod upstream;
mod upstream_options;

pub use access_log::AccessLogTarget;
pub use routes::{ActionRule, ProjectConfig, ProjectFrom, RouteConfig};
pub use tls::{
    ACME_CHALLENGE_PREFIX, CertificateFiles, DEFAULT_CERT_POLL, Hsts, Redirect, TlsConfig,
};
pub use token::GatewayToken;
pub use upstream::{BadUpstream, Upstream};
pub use upstream_options::{
    Balance, DEFAULT_RESOLVE_INTERVAL, HealthCheck, Protocol, UpstreamOptions, UpstreamTls,
};

use std::time::Duration;
use wrnexus_policies::PolicySource;
use wrnexus_policies::claims::{DEFAULT_AUDIENCE, DEFAULT_COOKIE_NAME, DEFAULT_ISSUER};

/// How often policy directories are looked at, unless configured.
pub const DEFAULT_POLICY_POLL: Duration = Duration::from_millis(250);
/// Verified session tokens kept, unless configured.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 16_384;

/// A gateway with no invalidation source would serve revoked access until
/// its cache entries expire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no invalidation source: without `redis_url` this gateway would not hear of revocations \
     (removed members, revoked keys and sessions, suspended workspaces) until its cached \
     entries expire after `cache_ttl_secs` ({cache_ttl_secs}s); set `redis_url` in [gateway] \
     to the control plane's redis, or accept the delay with `allow_stale_revocation = true` \
     in [gateway] (WRNEXUS_GATEWAY__ALLOW_STALE_REVOCATION=true)"
)]
pub struct NoInvalidationSource {
    pub cache_ttl_secs: u64,
}

/// Everything the gateway needs to run.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Proxy listener, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// TLS on the proxy listener; `None`: plain HTTP/1.1.
    pub tls: Option<TlsConfig>,
    /// Admin listener (`/metrics`, `/live`, `/ready`).
    pub admin_listen: String,
    /// Base URL of the control plane, e.g. `http://127.0.0.1:7070`.
    pub control_plane_url: String,
    /// The app behind the gateway when `routes` is empty (served at `/`).
    pub upstream: Upstream,
    /// Apps by host and path prefix; empty: `upstream` serves everything.
    pub routes: Vec<RouteConfig>,
    /// Peers (IPs or CIDR blocks) whose `X-Forwarded-*` and `X-Request-Id`
    /// are believed.
    pub trusted_proxies: Vec<String>,
    /// Redis for shared decision data and invalidations; `None`: in-process only.
    pub redis_url: Option<String>,
    /// The CA a `rediss://` server's certificate is checked against;
    /// `None`: the system's trust store.
    pub redis_ca_file: Option<std::path::PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub cookie_name: String,
    pub policies: PolicySource,
    /// Most entries kept in the in-process cache.
    pub cache_capacity: usize,
    /// Most verified session tokens remembered (0: verify every request).
    pub token_cache_capacity: usize,
    /// How long a local entry is trusted before it is read again (changes
    /// arrive as invalidations well before that).
    pub cache_ttl: Duration,
    /// With Redis unreachable, local entries keep serving up to this age;
    /// past it, requests that need them get 503.
    pub stale_bound: Duration,
    /// Start without any invalidation source (no Redis, no in-process bus),
    /// accepting that a revocation is seen only when `cache_ttl` expires.
    pub allow_stale_revocation: bool,
    /// How often the control plane's public keys are fetched again.
    pub keys_refresh: Duration,
    /// Timeout of a control-plane lookup on a miss.
    pub control_plane_timeout: Duration,
    /// Worker threads of the proxy.
    pub threads: usize,
    /// Paths like `{prefix}{workspace_id}/…` name their workspace: a member
    /// following such a link is switched to it, anyone else gets 404.
    /// Empty: no path names a workspace.
    pub workspace_path_prefix: String,
    /// Refuse every session of a person who has not verified their email
    /// (`403 email_unverified`); API keys are not affected (the control
    /// plane, told the same by `[session] require_verified_email`, makes
    /// none for such a person). Off: unverified people use apps, and
    /// policies may read `context.email_verified`.
    pub require_verified_email: bool,
    /// Sign an `X-WRNexus-Assertion` JWT onto every forwarded request.
    pub assertion_key: Option<wrnexus_policies::assertion::AssertionKey>,
    /// Its `aud` claim.
    pub assertion_audience: String,
    /// How long an idle client connection is kept open (HTTP/1.1 between
    /// requests, HTTP/2 with no stream open); a client cannot ask for more.
    pub keepalive_timeout: Duration,
    /// On SIGTERM: how long in-flight requests may still finish (new
    /// connections are refused meanwhile).
    pub drain_timeout: Duration,
    /// On SIGTERM: how long the gateway keeps accepting, already unready,
    /// before it stops accepting and drains (load balancers notice).
    pub shutdown_delay: Duration,
    /// A candidate policy directory evaluated beside the live one on real
    /// traffic: differences are counted and logged, never enforced.
    pub shadow_policies: Option<PolicySource>,
    /// The solver the policy sets are proven with on every load, and how
    /// long one query may take (none at hand: proofs off, said loudly).
    pub policy_proofs: wrnexus_policies::solver::ProofSettings,
    /// How often policy directories are looked at for changes (SIGHUP
    /// reloads at once whatever this is).
    pub policy_poll: Duration,
    /// `WRNEXUS_GATEWAY_TOKEN`: shown to the control plane with reports of
    /// API key use (last use, refusals). `None`: nothing is reported.
    pub gateway_token: Option<GatewayToken>,
    /// How often API key use is reported.
    pub key_usage_flush: Duration,
    /// One JSON line per request, written here; `None`: no access log.
    pub access_log: Option<AccessLogTarget>,
    /// Where the gateway's spans go (the process's OTLP exporter, under the
    /// `wrnexus-gateway` scope); `None`: tracing off.
    pub tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
}

/// Written without secrets: the Redis URL's password is masked (the
/// assertion key and the gateway token mask themselves).
impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("admin_listen", &self.admin_listen)
            .field("control_plane_url", &self.control_plane_url)
            .field("upstream", &self.upstream)
            .field("routes", &self.routes)
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(wrnexus_backends::redact_url),
            )
            .field("redis_ca_file", &self.redis_ca_file)
            .field("policies", &self.policies)
            .field("shadow_policies", &self.shadow_policies)
            .field("assertion_key", &self.assertion_key)
            .field("gateway_token", &self.gateway_token)
            .field("access_log", &self.access_log)
            .field("tracing", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// Defaults around the three addresses that have none.
    pub fn new(
        listen: impl Into<String>,
        control_plane_url: impl Into<String>,
        upstream: Upstream,
    ) -> Self {
        GatewayConfig {
            listen: listen.into(),
            tls: None,
            admin_listen: "127.0.0.1:9090".to_string(),
            control_plane_url: control_plane_url.into(),
            upstream,
            routes: Vec::new(),
            trusted_proxies: Vec::new(),
            redis_url: None,
            redis_ca_file: None,
            issuer: DEFAULT_ISSUER.to_string(),
            audience: DEFAULT_AUDIENCE.to_string(),
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            policies: PolicySource::Shipped,
            cache_capacity: 100_000,
            token_cache_capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
            cache_ttl: Duration::from_secs(60),
            stale_bound: Duration::from_secs(30),
            allow_stale_revocation: false,
            keys_refresh: Duration::from_secs(60),
            control_plane_timeout: Duration::from_secs(2),
            threads: 2,
            workspace_path_prefix: "/w/".to_string(),
            require_verified_email: false,
            assertion_key: None,
            assertion_audience: wrnexus_policies::assertion::DEFAULT_ASSERTION_AUDIENCE.to_string(),
            shadow_policies: None,
            policy_proofs: wrnexus_policies::solver::ProofSettings::default(),
            policy_poll: DEFAULT_POLICY_POLL,
            keepalive_timeout: crate::edge::keepalive::DEFAULT_KEEPALIVE,
            drain_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            gateway_token: None,
            key_usage_flush: Duration::from_secs(2),
            access_log: None,
            tracer: None,
        }
    }

    /// Refuse to run without a way to hear of revocations, unless the
    /// config accepts that they wait for the cache TTL. `in_process_bus`:
    /// the embedded mode's bus is there.
    pub fn check_invalidation_source(
        &self,
        in_process_bus: bool,
    ) -> Result<(), NoInvalidationSource> {
        if self.redis_url.is_some() || in_process_bus || self.allow_stale_revocation {
            Ok(())
        } else {
            Err(NoInvalidationSource {
                cache_ttl_secs: self.cache_ttl.as_secs(),
            })
        }
    }

    /// The routes in force: the configured ones, or the default route.
    pub fn effective_routes(&self) -> Vec<RouteConfig> {
        if self.routes.is_empty() {
            vec![RouteConfig::default_for(self.upstream.clone())]
        } else {
            self.routes.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GatewayConfig {
        GatewayConfig::new(
            "127.0.0.1:0",
            "http://127.0.0.1:7070",
            Upstream::parse("http://127.0.0.1:3000").unwrap(),
        )
    }

    #[test]
    fn its_debug_form_masks_the_redis_password() {
        let with_password = GatewayConfig {
            redis_url: Some("rediss://user:s3cret@redis.internal:6380".into()),
            ..config()
        };
        let shown = format!("{with_password:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redis.internal:6380"), "{shown}");
    }

    #[test]
    fn a_gateway_without_invalidations_must_say_so() {
        let bare = config();
        let refused = bare.check_invalidation_source(false).unwrap_err();
        let message = refused.to_string();
        for part in ["redis_url", "allow_stale_revocation = true", "60s"] {
            assert!(message.contains(part), "{part}: {message}");
        }
        assert_eq!(bare.check_invalidation_source(true), Ok(()));
        let with_redis = GatewayConfig {
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ..config()
        };
        assert_eq!(with_redis.check_invalidation_source(false), Ok(()));
        let accepted = GatewayConfig {
            allow_stale_revocation: true,
            ..config()
        };
        assert_eq!(accepted.check_invalidation_source(false), Ok(()));
    }
}
