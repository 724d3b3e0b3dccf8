//! Control-plane settings.

use std::time::Duration;
use wrnexus_policies::PolicySource;
use wrnexus_policies::claims::{DEFAULT_AUDIENCE, DEFAULT_COOKIE_NAME, DEFAULT_ISSUER};

/// Everything the control plane needs to run. Built by the binary from the
/// config file, flags and environment.
#[derive(Clone)]
pub struct ControlPlaneConfig {
    /// `postgres://…` or `sqlite://…`.
    pub database_url: String,
    /// When set, decision data is pushed to Redis and invalidations published.
    pub redis_url: Option<String>,
    /// How long pushed Redis entries live (a safety net; changes are pushed).
    pub redis_entry_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub cookie_name: String,
    /// `Secure` on the cookie; required by the `__Host-` prefix.
    pub cookie_secure: bool,
    pub session_ttl_secs: i64,
    pub invitation_ttl_secs: i64,
    /// Unset: the operator API answers that it is off.
    pub operator_token: Option<String>,
    pub policies: PolicySource,
    pub rate_limits: crate::api::limits::RateLimits,
}

impl std::fmt::Debug for ControlPlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneConfig")
            .field("database", &crate::store::redact_url(&self.database_url))
            .field(
                "redis",
                &self.redis_url.as_deref().map(crate::store::redact_url),
            )
            .field("operator_api", &self.operator_token.is_some())
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

impl ControlPlaneConfig {
    /// Defaults around a database URL.
    pub fn new(database_url: impl Into<String>) -> Self {
        ControlPlaneConfig {
            database_url: database_url.into(),
            redis_url: None,
            redis_entry_ttl: Duration::from_secs(60),
            issuer: DEFAULT_ISSUER.to_string(),
            audience: DEFAULT_AUDIENCE.to_string(),
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            cookie_secure: true,
            session_ttl_secs: 24 * 3600,
            invitation_ttl_secs: 7 * 24 * 3600,
            operator_token: None,
            policies: PolicySource::Shipped,
            rate_limits: crate::api::limits::RateLimits::default(),
        }
    }
}
