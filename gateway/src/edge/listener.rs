//! The TLS settings the proxy listener is served with: certificates from
//! the store (by SNI, as reloaded), TLS 1.2 and 1.3 only (pingora's rustls
//! acceptor offers nothing older), ALPN `h2` then `http/1.1` with HTTP/2 on.

use crate::edge::sni::CertStore;
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::ALPN;
use std::sync::Arc;

/// Settings for a TLS listener serving `store`'s certificates.
pub fn tls_settings(store: Arc<CertStore>, http2: bool) -> pingora::Result<TlsSettings> {
    // The certificate files are the store's: none are named here.
    let mut settings = TlsSettings::intermediate("", "")?;
    settings.set_cert_resolver(store);
    settings.set_alpn(if http2 { ALPN::H2H1 } else { ALPN::H1 });
    Ok(settings)
}
