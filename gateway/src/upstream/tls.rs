//! TLS to `https://` upstreams: a route's CA file and client certificate
//! read and checked when the route is built (at start, and by `wrnexus
//! config check`), and turned into what pingora's rustls connector takes
//! per peer (`options.ca`, `client_cert_key`, `sni`). Verification is never
//! turned off: the certificate must chain to the CA file (or the system's
//! trust store) and name the upstream's host, or its `tls_server_name`.

use crate::config::UpstreamTls;
use pingora::protocols::tls::CaType;
use pingora::utils::tls::{CertKey, WrappedX509, parse_x509};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use wrnexus_backends::{CaFile, CaFileError};

/// Why a route's TLS settings cannot be used; [`Self::key`] names the
/// route key at fault (the message does not repeat it).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    #[error("{0}")]
    Ca(CaFileError),
    #[error("`{origin}`: certificate {index} is not a readable X.509 certificate")]
    CaNotX509 { origin: String, index: usize },
    #[error("set, but the route's upstreams are http://, not https://")]
    NotHttps { key: &'static str },
    #[error("set without `client_key_file`")]
    CertWithoutKey,
    #[error("set without `client_cert_file`")]
    KeyWithoutCert,
    #[error("cannot read `{path}`: {error}")]
    Unreadable {
        key: &'static str,
        path: String,
        error: std::io::Error,
    },
    #[error("`{path}` holds no certificate (a PEM block `-----BEGIN CERTIFICATE-----`){detail}")]
    NoCertificate { path: String, detail: String },
    #[error(
        "`{path}` holds no private key (a PEM block `-----BEGIN PRIVATE KEY-----`, \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY`)"
    )]
    NoKey { path: String },
    #[error("`{key}` does not go with the certificate in `{cert}`: {detail}")]
    Mismatch {
        key: String,
        cert: String,
        detail: String,
    },
    #[error("`{0}` is neither a DNS name nor an IP address")]
    BadServerName(String),
}

impl UpstreamTlsError {
    /// The route key at fault, e.g. `ca_file`.
    pub fn key(&self) -> &'static str {
        match self {
            UpstreamTlsError::Ca(_) | UpstreamTlsError::CaNotX509 { .. } => "ca_file",
            UpstreamTlsError::NotHttps { key } | UpstreamTlsError::Unreadable { key, .. } => key,
            UpstreamTlsError::CertWithoutKey | UpstreamTlsError::NoCertificate { .. } => {
                "client_cert_file"
            }
            UpstreamTlsError::KeyWithoutCert
            | UpstreamTlsError::NoKey { .. }
            | UpstreamTlsError::Mismatch { .. } => "client_key_file",
            UpstreamTlsError::BadServerName(_) => "tls_server_name",
        }
    }
}

/// A route's TLS material, ready for its peers.
#[derive(Clone, Default)]
pub struct PeerTls {
    /// The CA the upstreams' certificates must chain to; `None`: the
    /// system's trust store.
    pub ca: Option<Arc<CaType>>,
    /// The client certificate and key shown to upstreams that ask.
    pub client: Option<Arc<CertKey>>,
    /// SNI and the name verified, instead of the URL's host.
    pub server_name: Option<String>,
}

/// The CA's subjects and the client certificate's, never the key.
impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("ca_certificates", &self.ca.as_ref().map(|ca| ca.len()))
            .field("client", &self.client.as_ref().map(|c| c.to_string()))
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl PeerTls {
    /// Read and check `settings` for upstreams that are `https` or not.
    pub fn load(settings: &UpstreamTls, https: bool) -> Result<Self, UpstreamTlsError> {
        if !https {
            let set = [
                ("ca_file", settings.ca_file.is_some()),
                ("client_cert_file", settings.client_cert_file.is_some()),
                ("client_key_file", settings.client_key_file.is_some()),
                ("tls_server_name", settings.server_name.is_some()),
            ];
            return match set.into_iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(UpstreamTlsError::NotHttps { key }),
                None => Ok(PeerTls::default()),
            };
        }
        if let Some(name) = &settings.server_name
            && ServerName::try_from(name.as_str()).is_err()
        {
            return Err(UpstreamTlsError::BadServerName(name.clone()));
        }
        let ca = match &settings.ca_file {
            Some(path) => Some(ca(path)?),
            None => None,
        };
        let client = match (&settings.client_cert_file, &settings.client_key_file) {
            (Some(cert), Some(key)) => Some(client(cert, key)?),
            (Some(_), None) => return Err(UpstreamTlsError::CertWithoutKey),
            (None, Some(_)) => return Err(UpstreamTlsError::KeyWithoutCert),
            (None, None) => None,
        };
        Ok(PeerTls {
            ca,
            client,
            server_name: settings.server_name.clone(),
        })
    }
}

/// A certificate pingora can hold, or `None` when its X.509 parser would
/// refuse it (pingora's own parse panics: it is checked here first).
fn wrapped(der: &[u8]) -> Option<WrappedX509> {
    x509_parser::parse_x509_certificate(der).ok()?;
    std::panic::catch_unwind(|| WrappedX509::new(der.to_vec(), parse_x509)).ok()
}

/// The CA file's certificates, each usable as a trust anchor.
fn ca(path: &Path) -> Result<Arc<CaType>, UpstreamTlsError> {
    let file = CaFile::read(path).map_err(UpstreamTlsError::Ca)?;
    let mut certificates = Vec::with_capacity(file.certificates());
    for (i, der) in CertificateDer::pem_slice_iter(file.pem()).enumerate() {
        let not_x509 = || UpstreamTlsError::CaNotX509 {
            origin: file.origin().to_string(),
            index: i + 1,
        };
        let der = der.map_err(|_| not_x509())?;
        certificates.push(wrapped(&der).ok_or_else(not_x509)?);
    }
    Ok(certificates.into())
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, UpstreamTlsError> {
    std::fs::read(path).map_err(|error| UpstreamTlsError::Unreadable {
        key,
        path: path.display().to_string(),
        error,
    })
}

/// The client certificate chain and its key, checked to go together.
fn client(cert_path: &Path, key_path: &Path) -> Result<Arc<CertKey>, UpstreamTlsError> {
    let cert_origin = cert_path.display().to_string();
    let no_certificate = |detail: String| UpstreamTlsError::NoCertificate {
        path: cert_origin.clone(),
        detail,
    };
    let pem = read("client_cert_file", cert_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| no_certificate(format!(": {e}")))?;
    if chain.is_empty() {
        return Err(no_certificate(String::new()));
    }
    if chain.iter().any(|c| wrapped(c).is_none()) {
        return Err(no_certificate(
            ": a certificate is not readable X.509".into(),
        ));
    }
    let key_pem = read("client_key_file", key_path)?;
    let key_origin = key_path.display().to_string();
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| UpstreamTlsError::NoKey {
        path: key_origin.clone(),
    })?;
    // The connector parses the key again from its DER: it must say its form.
    let der = key.secret_der().to_vec();
    if PrivateKeyDer::try_from(der.clone()).is_err() {
        return Err(UpstreamTlsError::NoKey { path: key_origin });
    }
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    rustls::sign::CertifiedKey::from_der(chain.clone(), key, &provider).map_err(|e| {
        UpstreamTlsError::Mismatch {
            key: key_origin,
            cert: cert_origin.clone(),
            detail: e.to_string(),
        }
    })?;
    let chain = chain.into_iter().map(|c| c.to_vec()).collect();
    Ok(Arc::new(CertKey::new(chain, der)))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
