//! How a route reaches its upstreams, as configured: the balancing rule,
//! the protocol, TLS (CA, client certificate, server name), active health
//! checks and how often names are resolved again. Plain data: the files
//! are read and the values checked when the route is built
//! ([`crate::upstream::pool`]).

use std::path::PathBuf;
use std::time::Duration;

/// How often upstream host names are resolved again, unless configured.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// How often health checks run, once on, unless configured.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How long one health check may take, unless configured.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Consecutive failed checks that take an address out, unless configured.
pub const DEFAULT_UNHEALTHY_THRESHOLD: usize = 2;
/// Consecutive passed checks that put it back, unless configured.
pub const DEFAULT_HEALTHY_THRESHOLD: usize = 2;

/// Which of a route's addresses serves the next request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Balance {
    /// Each in turn.
    #[default]
    RoundRobin,
    /// The one with the fewest requests in flight through this gateway.
    LeastConnections,
}

/// The HTTP version spoken to the upstreams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    #[default]
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) over plain
    /// TCP. gRPC needs it (trailers).
    H2,
}

/// TLS to `https://` upstreams. Without a CA file the system's trust
/// store verifies them; verification is never off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// PEM CA certificates the upstreams' certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain (PEM, leaf first) for upstreams that ask
    /// for one (mTLS)…
    pub client_cert_file: Option<PathBuf>,
    /// …and its private key (PEM).
    pub client_key_file: Option<PathBuf>,
    /// The name sent as SNI and verified in the certificate, instead of
    /// the URL's host (e.g. for an upstream named by its IP address).
    pub server_name: Option<String>,
}

impl UpstreamTls {
    /// Whether any TLS setting is given.
    pub fn is_set(&self) -> bool {
        *self != UpstreamTls::default()
    }
}

/// Active health checks of a route's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `GET` this path, expecting a 2xx; `None`: a TCP connect.
    pub path: Option<String>,
    pub interval: Duration,
    /// How long one check may take (connect, and the answer's header).
    pub timeout: Duration,
    /// Consecutive failures that take an address out of balance…
    pub unhealthy_threshold: usize,
    /// …and consecutive passes that put it back.
    pub healthy_threshold: usize,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: None,
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            unhealthy_threshold: DEFAULT_UNHEALTHY_THRESHOLD,
            healthy_threshold: DEFAULT_HEALTHY_THRESHOLD,
        }
    }
}

/// Everything about reaching a route's upstreams but their addresses and
/// timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOptions {
    pub balance: Balance,
    pub protocol: Protocol,
    pub tls: UpstreamTls,
    /// `None`: no active checks (every address is always in balance).
    pub health_check: Option<HealthCheck>,
    /// How often host names are resolved again (IP addresses never are).
    pub resolve_interval: Duration,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            balance: Balance::default(),
            protocol: Protocol::default(),
            tls: UpstreamTls::default(),
            health_check: None,
            resolve_interval: DEFAULT_RESOLVE_INTERVAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_plain_and_unchecked() {
        let options = UpstreamOptions::default();
        assert_eq!(options.balance, Balance::RoundRobin);
        assert_eq!(options.protocol, Protocol::Http1);
        assert!(options.health_check.is_none());
        assert_eq!(options.resolve_interval, DEFAULT_RESOLVE_INTERVAL);
        assert!(!UpstreamTls::default().is_set());
        let named = UpstreamTls {
            server_name: Some("app.internal".into()),
            ..UpstreamTls::default()
        };
        assert!(named.is_set());
    }
}
