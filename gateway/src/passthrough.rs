//! BENCHMARK REFERENCE ONLY — NO AUTHENTICATION: a bare pingora proxy that
//! forwards every request to one upstream, untouched. It exists so that the
//! load benchmark can compare the gateway with pingora doing nothing else;
//! it is never part of the gateway and must never front a real app.

use crate::config::{CertificateFiles, Upstream};
use crate::edge::certs::provider;
use crate::edge::listener::tls_settings;
use crate::edge::reload::CertReloader;
use crate::server::GatewayError;
use async_trait::async_trait;
use pingora::prelude::{HttpPeer, ProxyHttp, Session, http_proxy_service};
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// Forwards everything to `upstream`.
#[derive(Debug)]
pub struct PassThrough {
    upstream: SocketAddr,
    tls: bool,
    host: String,
}

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream,
            self.tls,
            self.host.clone(),
        )))
    }
}

/// Serve the pass-through on `listen` with `threads` workers until stopped;
/// with `tls`, over TLS on the gateway's own listener (the same certificate
/// store and pingora rustls settings, HTTP/2 offered by ALPN).
pub fn run(
    listen: &str,
    upstream: &Upstream,
    threads: usize,
    tls: Option<&CertificateFiles>,
) -> Result<(), GatewayError> {
    let address = upstream.address();
    let addr = address
        .to_socket_addrs()?
        .next()
        .ok_or(GatewayError::Unresolvable(address))?;
    let conf = ServerConf {
        threads: threads.max(1),
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None::<Opt>, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        PassThrough {
            upstream: addr,
            tls: upstream.tls,
            host: upstream.host.clone(),
        },
    );
    match tls {
        Some(files) => {
            let store = CertReloader::first(std::slice::from_ref(files), &provider())?;
            let settings = tls_settings(Arc::new(store), true)
                .map_err(|e| GatewayError::TlsListener(e.to_string()))?;
            proxy.add_tls_with_settings(listen, None, settings);
        }
        None => proxy.add_tcp(listen),
    }
    server.add_service(proxy);
    tracing::warn!(
        listen,
        tls = tls.is_some(),
        "BENCHMARK PASS-THROUGH: no authentication, every request is forwarded"
    );
    server.run_forever()
}
