//! Upstream apps a suite can stop and start again on the same port, over
//! plain HTTP or TLS (asking for a client certificate, or not): each
//! serves the echo of [`crate::apps`] (with its hit count), `GET /healthz`
//! (not counted), and whatever routes the suite adds.

use crate::TestResult;
use crate::apps::{App, echo};
use crate::certs::ServerCerts;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};

/// A TLS server configuration presenting `certs`; with `client_ca`, every
/// client must show a certificate that CA signed.
pub fn tls_config(certs: &ServerCerts, client_ca: Option<&str>) -> TestResult<Arc<ServerConfig>> {
    let provider = Arc::new(crypto::aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_slice_iter(certs.cert.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(certs.key.as_bytes())?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert?)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
    };
    Ok(Arc::new(config))
}

/// TCP connections, each through a TLS handshake (failed ones dropped).
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(2), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An upstream app on a port of its own.
pub struct Upstream {
    pub app: App,
    pub port: u16,
    router: Router<App>,
    tls: Option<Arc<ServerConfig>>,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("app", &self.app.name)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl Upstream {
    /// `router` (the echo as its fallback, `/healthz` added) served as
    /// `name` on a free loopback port, over TLS when `tls` is given.
    pub async fn start(
        name: &'static str,
        router: Router<App>,
        tls: Option<Arc<ServerConfig>>,
    ) -> TestResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut upstream = Upstream {
            app: App::new(name),
            port: listener.local_addr()?.port(),
            router,
            tls,
            running: None,
        };
        upstream.serve(listener);
        Ok(upstream)
    }

    /// Plain HTTP, the echo alone.
    pub async fn plain(name: &'static str) -> TestResult<Self> {
        Self::start(name, Router::new(), None).await
    }

    /// `http://127.0.0.1:port` or `https://…`.
    pub fn url(&self, host: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{host}:{}", self.port)
    }

    /// Requests that reached the app so far (health checks not counted).
    pub fn hits(&self) -> usize {
        self.app.hits()
    }

    fn serve(&mut self, listener: TcpListener) {
        let router = self
            .router
            .clone()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .fallback(echo)
            .with_state(self.app.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = match &self.tls {
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await;
            }),
            Some(config) => {
                let listener = TlsListener {
                    tcp: listener,
                    acceptor: TlsAcceptor::from(config.clone()),
                };
                tokio::spawn(async move {
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(shutdown)
                        .await;
                })
            }
        };
        self.running = Some((stop, task));
    }

    /// Stop: the port is closed and every connection to it ends (idle
    /// ones at once, a request in flight once answered, within 5 s).
    pub async fn stop(&mut self) -> TestResult {
        if let Some((stop, mut task)) = self.running.take() {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        Ok(())
    }

    /// Serve again on the same port.
    pub async fn restart(&mut self) -> TestResult {
        self.stop().await?;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some((_, task)) = self.running.take() {
            task.abort();
        }
    }
}
