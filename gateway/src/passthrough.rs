//! BENCHMARK REFERENCE ONLY — NO AUTHENTICATION: a bare pingora proxy that
//! forwards every request to one upstream, untouched. It exists so that the
//! load benchmark can compare the gateway with pingora doing nothing else;
//! it is never part of the gateway and must never front a real app.

use crate::config::Upstream;
use crate::server::GatewayError;
use async_trait::async_trait;
use pingora::prelude::{HttpPeer, ProxyHttp, Session, http_proxy_service};
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use std::net::{SocketAddr, ToSocketAddrs};

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

/// Serve the pass-through on `listen` with `threads` workers until stopped.
pub fn run(listen: &str, upstream: &Upstream, threads: usize) -> Result<(), GatewayError> {
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
    proxy.add_tcp(listen);
    server.add_service(proxy);
    tracing::warn!(
        listen,
        "BENCHMARK PASS-THROUGH: no authentication, every request is forwarded"
    );
    server.run_forever()
}
