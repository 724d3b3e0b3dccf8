//! A route's upstreams, ready to serve: its addresses (found and found
//! again by [`discovery`](super::discovery)), checked by its
//! [`Probe`](super::health::Probe), balanced among those in health, and
//! the peer every request's connection is cut from — TLS, protocol,
//! timeouts. [`upkeep`](super::upkeep) runs the checks and re-resolution.

use crate::config::{Balance, Protocol, RouteConfig};
use crate::upstream::balance::{Lease, LeastConnections, lease, upstream_host};
use crate::upstream::discovery::{Discovery, Resolve, Unresolvable};
use crate::upstream::health::{BadHealthCheck, Probe};
use crate::upstream::tls::{PeerTls, UpstreamTlsError};
use futures_util::FutureExt;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::prelude::HttpPeer;
use pingora::upstreams::peer::ALPN;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How many candidates a selection looks at before it gives up (every
/// address unhealthy).
const MAX_CANDIDATES: usize = 256;
/// Concurrent streams on one HTTP/2 connection to an upstream.
const H2_STREAMS: usize = 100;

/// How long an idle upstream connection stays pooled when the route does not
/// say: connections opened in a burst are closed once it has passed, rather
/// than held until the app closes them (many apps never do).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a route's upstreams cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(transparent)]
    Tls(#[from] UpstreamTlsError),
    #[error(transparent)]
    HealthCheck(#[from] BadHealthCheck),
    #[error(transparent)]
    Unresolvable(#[from] Unresolvable),
}

impl PoolError {
    /// The route key at fault, e.g. `ca_file`.
    pub fn key(&self) -> &'static str {
        match self {
            PoolError::Tls(e) => e.key(),
            PoolError::HealthCheck(e) => e.key(),
            PoolError::Unresolvable(_) => "upstream",
        }
    }
}

/// The balancing rule, over pingora's load balancer.
enum Balancer {
    RoundRobin(LoadBalancer<RoundRobin>),
    LeastConnections(LoadBalancer<LeastConnections>),
}

impl Balancer {
    fn new(balance: Balance, backends: Backends, probe: Option<Probe>) -> Self {
        fn with<S>(backends: Backends, probe: Option<Probe>) -> LoadBalancer<S>
        where
            S: pingora::lb::selection::BackendSelection + 'static,
            S::Iter: pingora::lb::selection::BackendIter,
        {
            let mut lb = LoadBalancer::from_backends(backends);
            if let Some(probe) = probe {
                lb.set_health_check(Box::new(probe));
            }
            lb
        }
        match balance {
            Balance::RoundRobin => Balancer::RoundRobin(with(backends, probe)),
            Balance::LeastConnections => Balancer::LeastConnections(with(backends, probe)),
        }
    }

    fn select(&self) -> Option<Backend> {
        match self {
            Balancer::RoundRobin(lb) => lb.select(b"", MAX_CANDIDATES),
            Balancer::LeastConnections(lb) => lb.select(b"", MAX_CANDIDATES),
        }
    }

    fn backends(&self) -> &Backends {
        match self {
            Balancer::RoundRobin(lb) => lb.backends(),
            Balancer::LeastConnections(lb) => lb.backends(),
        }
    }

    async fn update(&self) -> pingora::Result<()> {
        match self {
            Balancer::RoundRobin(lb) => lb.update().await,
            Balancer::LeastConnections(lb) => lb.update().await,
        }
    }
}

/// One route's upstreams.
pub struct UpstreamPool {
    route: String,
    balancer: Balancer,
    /// The peer of every request, but its address (and SNI, from the host
    /// the address was found under, unless `sni_fixed`).
    template: HttpPeer,
    sni_fixed: bool,
    health_interval: Option<Duration>,
    /// `None`: only IP addresses, nothing to resolve again.
    resolve_interval: Option<Duration>,
}

impl std::fmt::Debug for UpstreamPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamPool")
            .field("route", &self.route)
            .field("template", &self.template.to_string())
            .field("health_interval", &self.health_interval)
            .field("resolve_interval", &self.resolve_interval)
            .finish_non_exhaustive()
    }
}

/// Check a route's upstream settings (TLS files read, health settings)
/// without resolving or building anything.
pub fn check(config: &RouteConfig) -> Result<(), PoolError> {
    let https = config.upstreams.first().is_some_and(|u| u.tls);
    PeerTls::load(&config.reach.tls, https)?;
    if let Some(health) = &config.reach.health_check {
        crate::upstream::health::check(health)?;
    }
    Ok(())
}

/// The peer template of `config`, with its TLS material.
fn template(config: &RouteConfig, tls: PeerTls) -> HttpPeer {
    let https = config.upstreams.first().is_some_and(|u| u.tls);
    let sni = tls.server_name.clone().unwrap_or_else(|| {
        config
            .upstreams
            .first()
            .map(|u| u.host.clone())
            .unwrap_or_default()
    });
    let mut peer = HttpPeer::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), https, sni);
    peer.options.connection_timeout = config.connect_timeout;
    peer.options.read_timeout = config.read_timeout;
    peer.options.idle_timeout = Some(config.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT));
    peer.options.ca = tls.ca;
    peer.client_cert_key = tls.client;
    if config.reach.protocol == Protocol::H2 {
        // h2 only: ALPN `h2` over TLS, prior knowledge over plain TCP.
        peer.options.alpn = ALPN::H2;
        peer.options.max_h2_streams = H2_STREAMS;
    }
    // Pooled connections are the route's own: pingora's reuse key does
    // not cover the CA a connection was verified with.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    config.name.hash(&mut hasher);
    peer.group_key = hasher.finish();
    peer
}

impl UpstreamPool {
    /// Read the TLS files, resolve every upstream (each must give an
    /// address) and set up the balancer; nothing runs until
    /// [`upkeep`](super::upkeep).
    pub fn build(config: &RouteConfig, resolve: Resolve) -> Result<Self, PoolError> {
        // aws-lc-rs before pingora's connectors (of the health checks) are
        // built: they would install ring otherwise.
        wrnexus_backends::install_crypto_provider();
        let https = config.upstreams.first().is_some_and(|u| u.tls);
        let tls = PeerTls::load(&config.reach.tls, https)?;
        let sni_fixed = tls.server_name.is_some();
        let template = template(config, tls);
        let probe = match &config.reach.health_check {
            Some(settings) => {
                let hosts: Vec<(Arc<str>, String)> = config
                    .upstreams
                    .iter()
                    .map(|u| (Arc::from(u.host.as_str()), u.address()))
                    .collect();
                Some(Probe::new(settings, &template, &hosts)?)
            }
            None => None,
        };
        let discovery = Discovery::start(&config.name, &config.upstreams, resolve, Arc::default())?;
        let resolve_interval = discovery
            .has_names()
            .then_some(config.reach.resolve_interval)
            .filter(|every| !every.is_zero());
        let backends = Backends::new(Box::new(discovery));
        let balancer = Balancer::new(config.reach.balance, backends, probe);
        // The discovery's first answer is the resolution just made: no wait.
        if !matches!(balancer.update().now_or_never(), Some(Ok(()))) {
            return Err(PoolError::Unresolvable(Unresolvable {
                address: config
                    .upstreams
                    .first()
                    .map(|u| u.address())
                    .unwrap_or_default(),
            }));
        }
        Ok(UpstreamPool {
            route: config.name.clone(),
            balancer,
            template,
            sni_fixed,
            health_interval: config.reach.health_check.as_ref().map(|h| h.interval),
            resolve_interval,
        })
    }

    pub fn route(&self) -> &str {
        &self.route
    }

    /// The next address in balance, as a peer, counted in flight until the
    /// lease is dropped; `None`: every address is out (failing its checks).
    pub fn select(&self) -> Option<(HttpPeer, Lease)> {
        let backend = self.balancer.select()?;
        let lease = lease(&backend);
        Some((self.peer_for(&backend), lease))
    }

    /// The peer for one address.
    pub fn peer_for(&self, backend: &Backend) -> HttpPeer {
        let mut peer = self.template.clone();
        peer._address = backend.addr.clone();
        if !self.sni_fixed
            && let Some(host) = upstream_host(backend)
        {
            peer.sni = host.to_string();
        }
        peer
    }

    /// Every address and whether it is in balance now.
    pub fn states(&self) -> Vec<(String, bool)> {
        let backends = self.balancer.backends();
        backends
            .get_backend()
            .iter()
            .map(|b| (b.addr.to_string(), backends.ready(b)))
            .collect()
    }

    /// How many addresses the route has now (in balance or not).
    pub fn addresses(&self) -> usize {
        self.balancer.backends().get_backend().len()
    }

    /// How often the addresses are checked; `None`: never.
    pub fn health_interval(&self) -> Option<Duration> {
        self.health_interval
    }

    /// How often names are resolved again; `None`: never (IP addresses).
    pub fn resolve_interval(&self) -> Option<Duration> {
        self.resolve_interval
    }

    /// Check every address once (all at once).
    pub async fn check_health(&self) {
        if self.health_interval.is_some() {
            self.balancer.backends().run_health_check(true).await;
        }
    }

    /// Resolve the names again and balance over what they give.
    pub async fn refresh(&self) {
        if let Err(e) = self.balancer.update().await {
            tracing::warn!(route = %self.route, error = %e, "updating the upstream addresses failed");
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
