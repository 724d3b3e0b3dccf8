//! Building the gateway and running it: a pingora server for the proxy, and
//! a small runtime for background work (keys, invalidations, admin).

use crate::authn::keys::KeyRing;
use crate::authn::session::Verifier;
use crate::config::{GatewayConfig, TlsConfig, Upstream};
use crate::data::cache::LocalCache;
use crate::data::invalidation;
use crate::data::resolve::{RedisLink, Resolver};
use crate::data::sockets::OpenSockets;
use crate::edge::redirect::RedirectSite;
use crate::edge::reload::CertReloader;
use crate::edge::sni::CertStore;
use crate::key_usage::record::KeyUsage;
use crate::key_usage::report::Reporter;
use crate::ops::admin;
use crate::ops::metrics::Metrics;
use crate::ops::readiness::Readiness;
use crate::ops::request_metrics::RequestSeries;
use crate::ops::shutdown::Shutdown;
use crate::proxy::Gateway;
use crate::request::routes::{RouteError, RouteTable};
use crate::upstream::forwarded::TrustedProxies;
use pingora::prelude::http_proxy_service;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use wrnexus_backends::RedisClient;
use wrnexus_policies::Invalidation;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("policies:\n{0}")]
    Policies(#[from] wrnexus_policies::load::PolicyErrors),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    // Not `#[from]`: an error chain printed whole would repeat the message.
    #[error("[gateway] `{key}`: {0}", key = .0.key())]
    RedisSetup(wrnexus_backends::RedisSetupError),
    #[error("cannot listen on `{address}`: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("`{0}` does not resolve to an address")]
    Unresolvable(String),
    #[error(transparent)]
    BadUpstream(#[from] crate::config::BadUpstream),
    #[error("routes: {0}")]
    Routes(#[from] crate::request::routes::RouteError),
    #[error("trusted_proxies: {0}")]
    TrustedProxies(#[from] crate::upstream::forwarded::BadProxy),
    #[error(transparent)]
    NoInvalidationSource(#[from] crate::config::NoInvalidationSource),
    #[error("[gateway.tls]: {0}")]
    Tls(#[from] crate::edge::certs::CertError),
    #[error("[gateway.tls]: the TLS listener cannot be set up: {0}")]
    TlsListener(String),
    #[error("[gateway] access_log: {0}")]
    AccessLog(#[from] crate::ops::access_log::AccessLogError),
}

/// A listener on `address`, or the error naming it.
fn bind(address: &str) -> Result<std::net::TcpListener, GatewayError> {
    std::net::TcpListener::bind(address).map_err(|source| GatewayError::Bind {
        address: address.to_string(),
        source,
    })
}

fn resolve(upstream: &Upstream) -> Result<(SocketAddr, bool, String), GatewayError> {
    let addr = upstream
        .address()
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| GatewayError::Unresolvable(upstream.address()))?;
    Ok((addr, upstream.tls, upstream.host.clone()))
}

/// Load the listener's certificates (a failure stops the start), watch
/// their files, and bind the redirect listener if one is configured.
fn start_tls(
    tls: &TlsConfig,
    listen: &str,
    metrics: &Metrics,
    background: &tokio::runtime::Runtime,
) -> Result<(Arc<CertStore>, bool), GatewayError> {
    let provider = crate::edge::certs::provider();
    let store = Arc::new(CertReloader::first(&tls.certificates, &provider)?);
    let reloader = CertReloader {
        files: tls.certificates.clone(),
        store: store.clone(),
        provider,
        metrics: metrics.clone(),
    };
    background.spawn(reloader.watch(tls.reload_poll));
    if let Some(redirect) = &tls.redirect {
        let listener = bind(&redirect.listen)?;
        listener.set_nonblocking(true)?;
        let site = RedirectSite {
            https_port: listen
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse().ok())
                .unwrap_or(443),
            acme_webroot: redirect.acme_webroot.clone(),
        };
        tracing::info!(listen = %redirect.listen, "redirecting plain HTTP to HTTPS");
        background.spawn(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => crate::edge::redirect::serve(listener, site).await,
                Err(e) => tracing::error!(error = %e, "redirect listener failed"),
            }
        });
    }
    Ok((store, tls.http2))
}

/// Run the gateway until the process is told to stop. `local` is the
/// in-process invalidation bus of the embedded mode.
pub fn run(
    config: GatewayConfig,
    local: Option<broadcast::Sender<Invalidation>>,
) -> Result<(), GatewayError> {
    // aws-lc-rs before any TLS configuration is built (pingora's
    // connectors would install ring otherwise).
    wrnexus_backends::install_crypto_provider();
    let metrics = Metrics::new()?;
    let proofs = &config.policy_proofs;
    let policies = wrnexus_policies::reload::load_checked_with(&config.policies, proofs)?;
    crate::ops::reload::log_proofs("live", &policies);
    let shadow = match &config.shadow_policies {
        Some(source) => Some(wrnexus_policies::reload::load_checked_with(source, proofs)?),
        None => None,
    };
    if let Some(shadow) = &shadow {
        crate::ops::reload::log_proofs("shadow", shadow);
    }
    // Upstream TLS files are read and every upstream resolved here: a
    // failure stops the start, named.
    let routes = RouteTable::build_with(
        config.effective_routes(),
        |action| policies.knows_action(action),
        crate::upstream::discovery::system_resolver(),
    )?;
    // The defaults by method too: a set without them fails every request
    // they decide closed. The shadow set is held to the same.
    if let Some(u) = routes.undeclared(|a| policies.knows_action(a)).first() {
        return Err(RouteError::UnknownAction {
            route: u.route.clone(),
            action: u.action.clone(),
        }
        .into());
    }
    if let Some(u) = shadow
        .as_ref()
        .and_then(|s| routes.undeclared(|a| s.knows_action(a)).into_iter().next())
    {
        return Err(RouteError::UnknownShadowAction {
            route: u.route,
            action: u.action,
        }
        .into());
    }
    let uses: Arc<[crate::request::routes::ActionUse]> = routes.actions_in_use().into();
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)?;
    // Last of the checks, before anything starts.
    config.check_invalidation_source(local.is_some())?;
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wrnexus-background")
        .enable_all()
        .build()?;
    // Each route's health checks and re-resolution.
    for pool in routes.pools() {
        background.spawn(crate::upstream::upkeep::upkeep(
            pool.clone(),
            metrics.upstream_healthy.clone(),
        ));
    }
    let live_slot: crate::ops::reload::Slot = Arc::new(RwLock::new(Arc::new(policies)));
    let shadow_slot: Option<crate::ops::reload::Slot> =
        shadow.map(|engine| Arc::new(RwLock::new(Arc::new(engine))));
    // The admin listener first: while the gateway starts, `/ready` says
    // what it waits for.
    let keys = Arc::new(KeyRing::default());
    let redis_link = config
        .redis_url
        .as_ref()
        .map(|_| Arc::new(RedisLink::default()));
    let readiness = Arc::new(Readiness::new(keys.clone(), redis_link.clone()));
    let admin_listener = bind(&config.admin_listen)?;
    admin_listener.set_nonblocking(true)?;
    {
        let proofs = crate::ops::reload::proofs_report(&live_slot, shadow_slot.as_ref());
        let (readiness, metrics) = (readiness.clone(), metrics.clone());
        background.spawn(async move {
            match tokio::net::TcpListener::from_std(admin_listener) {
                Ok(listener) => admin::serve(listener, metrics, readiness, proofs).await,
                Err(e) => tracing::error!(error = %e, "admin listener failed"),
            }
        });
    }
    // The proxy listener is bound by pingora when it runs; an address that
    // cannot be had stops the start here, named.
    drop(bind(&config.listen)?);
    // TLS: every certificate is read and checked before anything serves;
    // then they are kept in step with their files.
    let tls = match &config.tls {
        Some(tls) => Some(start_tls(tls, &config.listen, &metrics, &background)?),
        None => None,
    };
    // Redis's TLS settings are checked before anything else waits: a
    // certificate that does not verify stops the start, while Redis merely
    // down is ridden out like any later outage.
    let redis_client = match &config.redis_url {
        Some(url) => {
            let client = RedisClient::open(url, config.redis_ca_file.as_deref())
                .map_err(GatewayError::RedisSetup)?;
            match background.block_on(client.probe(Duration::from_secs(3))) {
                Err(e) if e.is_certificate() => return Err(GatewayError::RedisSetup(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "redis not reachable yet; retrying in the background")
                }
                Ok(()) => {}
            }
            Some(client)
        }
        None => None,
    };
    let http = reqwest::Client::builder()
        .timeout(config.control_plane_timeout)
        .build()?;

    {
        let (keys, http, url, metrics) = (
            keys.clone(),
            http.clone(),
            config.control_plane_url.clone(),
            metrics.clone(),
        );
        let refresh = config.keys_refresh;
        background.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut told = false;
            loop {
                match keys.refresh(&http, &url).await {
                    Ok(n) => {
                        metrics.keys_loaded.set(i64::try_from(n).unwrap_or(0));
                        break;
                    }
                    Err(e) if Instant::now() > deadline => {
                        tracing::error!(error = %e, "no signing keys from the control plane yet; sessions are refused until they arrive");
                        break;
                    }
                    Err(e) => {
                        if !told {
                            told = true;
                            tracing::info!(error = %e, "waiting for the control plane's signing keys (not ready until they arrive)");
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                }
            }
        });
        let (keys, metrics) = (keys.clone(), metrics.clone());
        background.spawn(async move {
            loop {
                let wait = if keys.is_empty() { Duration::from_secs(1) } else { refresh };
                tokio::time::sleep(wait).await;
                match keys.refresh(&http, &url).await {
                    Ok(n) => metrics.keys_loaded.set(i64::try_from(n).unwrap_or(0)),
                    Err(e) => {
                        metrics.backend_errors.with_label_values(&["control_plane"]).inc();
                        tracing::warn!(error = %e, "refreshing signing keys failed; keeping the current ones");
                    }
                }
            }
        });
    }

    let cache = Arc::new(LocalCache::new(config.cache_capacity));
    crate::ops::cache_size::register(&metrics.registry, cache.clone())?;
    let sockets = Arc::new(OpenSockets::default());
    let sinks = invalidation::Sinks {
        cache: cache.clone(),
        sockets: sockets.clone(),
        metrics: metrics.clone(),
    };
    let redis = match (redis_client, redis_link) {
        (Some(client), Some(link)) => {
            background.spawn(invalidation::follow_redis(
                client,
                link.clone(),
                sinks.clone(),
            ));
            Some(link)
        }
        _ => None,
    };
    if let Some(tx) = &local {
        background.spawn(invalidation::follow_local(tx.subscribe(), sinks.clone()));
    }

    let watched = crate::ops::reload::Watched {
        source: config.policies.clone(),
        slot: live_slot.clone(),
        set: "live",
        metrics: metrics.clone(),
        uses: uses.clone(),
        proofs: config.policy_proofs.clone(),
    };
    background.spawn(watched.watch(config.policy_poll));
    if let (Some(source), Some(slot)) = (&config.shadow_policies, &shadow_slot) {
        let watched = crate::ops::reload::Watched {
            source: source.clone(),
            slot: slot.clone(),
            set: "shadow",
            metrics: metrics.clone(),
            uses,
            proofs: config.policy_proofs.clone(),
        };
        background.spawn(watched.watch(config.policy_poll));
    }
    let control_plane = resolve(&Upstream::parse(&config.control_plane_url)?)?;
    let key_usage = Arc::new(KeyUsage::new(config.gateway_token.is_some()));
    let reporter = match &config.gateway_token {
        Some(token) => {
            let reporter = Arc::new(Reporter::new(
                http.clone(),
                &config.control_plane_url,
                token.clone(),
                key_usage.clone(),
                metrics.clone(),
            ));
            background.spawn(reporter.clone().run(config.key_usage_flush));
            Some(reporter)
        }
        None => {
            tracing::info!(
                "WRNEXUS_GATEWAY_TOKEN is not set: API key use at this gateway is not reported \
                 (keys used here show no last use; refused keys leave no audit row)"
            );
            None
        }
    };
    let gateway = Gateway {
        keys,
        verifier: Verifier::with_cache(
            &config.issuer,
            &config.audience,
            config.token_cache_capacity,
        ),
        resolver: Resolver::new(
            cache,
            redis,
            http,
            &config.control_plane_url,
            config.cache_ttl,
            config.stale_bound,
            metrics.clone(),
        ),
        policies: live_slot.clone(),
        shadow: shadow_slot.clone(),
        series: RequestSeries::new(&metrics, routes.names()),
        metrics,
        cookie_name: config.cookie_name.clone(),
        routes,
        trusted_proxies,
        control_plane,
        workspace_path_prefix: config.workspace_path_prefix.clone(),
        require_verified_email: config.require_verified_email,
        sockets,
        assertion: config
            .assertion_key
            .clone()
            .map(|key| (key, config.assertion_audience.clone())),
        key_usage,
        hsts: config
            .tls
            .as_ref()
            .and_then(|tls| tls.hsts.as_ref())
            .and_then(|hsts| http::HeaderValue::try_from(hsts.header_value()).ok()),
        access_log: config
            .access_log
            .as_ref()
            .map(crate::ops::access_log::AccessLog::start)
            .transpose()?,
        tracer: config.tracer.clone(),
        keepalive_secs: crate::edge::keepalive::whole_secs(config.keepalive_timeout),
    };

    let conf = ServerConf {
        threads: config.threads.max(1),
        // SIGTERM: stop accepting, let in-flight requests finish within
        // the drain bound, then stop.
        grace_period_seconds: Some(config.drain_timeout.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(2),
        // Attempts per request: a connection refused is tried on another of
        // the route's addresses (`fail_to_connect` bounds it by their
        // number), a pooled connection found closed on a fresh one.
        max_retries: 4,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None::<Opt>, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, gateway);
    if let Some(app) = proxy.app_logic_mut() {
        app.server_options = Some(crate::edge::keepalive::server_options(
            app.server_options.take(),
            config.keepalive_timeout,
        ));
    }
    match tls {
        Some((store, http2)) => {
            let settings = crate::edge::listener::tls_settings(store, http2)
                .map_err(|e| GatewayError::TlsListener(e.to_string()))?;
            proxy.add_tls_with_settings(&config.listen, None, settings);
        }
        None => proxy.add_tcp(&config.listen),
    }
    server.add_service(proxy);
    tracing::info!(
        listen = %config.listen,
        tls = config.tls.is_some(),
        admin = %config.admin_listen,
        "gateway listening"
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(Shutdown {
            readiness,
            delay: config.shutdown_delay,
        }),
    });
    // Stopped (in-flight requests drained): report the last key use.
    if let Some(reporter) = reporter {
        background.block_on(reporter.flush());
    }
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_with_no_invalidation_source_does_not_start() {
        let config = GatewayConfig::new(
            "127.0.0.1:0",
            "http://127.0.0.1:1",
            Upstream::parse("http://127.0.0.1:1").unwrap(),
        );
        // In a thread: were the check lost, `run` would serve forever, and
        // the test must fail rather than hang.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run(config, None).map_err(|e| e.to_string()));
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the gateway started without an invalidation source")
            .unwrap_err();
        assert!(
            refused.contains("no invalidation source")
                && refused.contains("`redis_url`")
                && refused.contains("allow_stale_revocation = true"),
            "{refused}"
        );
    }
}
