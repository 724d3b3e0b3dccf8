//! HTTP/2 over TLS as a client library would not send it: a raw `h2`
//! connection where every header goes out as given (`Host` beside
//! `:authority`), the response's body and trailers read whole. Also the
//! suites' HTTPS client for a test CA.

use crate::TestResult;
use bytes::Bytes;
use std::sync::Arc;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

/// A response read whole.
#[derive(Debug)]
pub struct H2Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub trailers: Option<http::HeaderMap>,
}

impl H2Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Make aws-lc-rs the process's rustls provider (the build links ring
/// too, through pingora), for clients that ask rustls for the default.
pub fn install_crypto_provider() {
    if crypto::CryptoProvider::get_default().is_none() {
        let _ = crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// A TLS client configuration trusting `ca_pem` alone, offering `alpn`.
pub fn tls_config(ca_pem: &str, alpn: &[&[u8]]) -> TestResult<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// An HTTP/2 connection to `addr` over TLS, naming `server_name` (SNI)
/// and trusting `ca_pem`; fails unless the server chose `h2`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    ca_pem: &str,
) -> TestResult<h2::client::SendRequest<Bytes>> {
    let config = tls_config(ca_pem, &[b"h2"])?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_string())?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err("the server did not choose h2 by ALPN".into());
    }
    let (send, connection) = h2::client::handshake(tls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send.ready().await?)
}

/// Send `request` (with `body`, if any) and read the whole response.
pub async fn exchange(
    send: &mut h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
    body: Option<Bytes>,
) -> TestResult<H2Response> {
    let mut ready = send.clone().ready().await?;
    let (response, mut stream) = ready.send_request(request, body.is_none())?;
    if let Some(body) = body {
        stream.send_data(body, true)?;
    }
    let response = response.await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut received = response.into_body();
    let mut body = Vec::new();
    while let Some(chunk) = received.data().await {
        let chunk = chunk?;
        received.flow_control().release_capacity(chunk.len())?;
        body.extend_from_slice(&chunk);
    }
    let trailers = received.trailers().await?;
    Ok(H2Response {
        status,
        headers,
        body,
        trailers,
    })
}

/// An HTTPS client trusting `ca_pem` (and nothing else), not following
/// redirects.
pub fn https_client(ca_pem: &str) -> TestResult<reqwest::ClientBuilder> {
    Ok(reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes())?])
        .redirect(reqwest::redirect::Policy::none()))
}
