//! The gateway's own TLS as configured: certificate files (chosen by SNI),
//! HTTP/2, HSTS, and the plain listener that redirects to HTTPS.

use std::path::PathBuf;
use std::time::Duration;

/// How often the certificate files are looked at for changes, unless
/// configured (SIGHUP reloads at once whatever this is).
pub const DEFAULT_CERT_POLL: Duration = Duration::from_secs(2);

/// The path prefix an ACME HTTP-01 challenge is fetched under (RFC 8555 §8.3).
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// One certificate chain and its private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `Strict-Transport-Security` on every response over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hsts {
    pub max_age: Duration,
    pub include_subdomains: bool,
    pub preload: bool,
}

impl Hsts {
    /// The header's value, e.g. `max-age=31536000; includeSubDomains`.
    pub fn header_value(&self) -> String {
        let mut value = format!("max-age={}", self.max_age.as_secs());
        if self.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.preload {
            value.push_str("; preload");
        }
        value
    }
}

/// A plain-HTTP listener answering everything with a 308 to the same URL
/// over HTTPS, except ACME HTTP-01 challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// e.g. `0.0.0.0:80`.
    pub listen: String,
    /// Where an ACME client (certbot `--webroot`, lego `--http.webroot`)
    /// writes its challenge files: `{dir}/.well-known/acme-challenge/{token}`
    /// is served as is. `None`: challenges are redirected like the rest.
    pub acme_webroot: Option<PathBuf>,
}

/// TLS on the proxy listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The first is served to clients naming no host (or a host no
    /// certificate covers); the others by the names in their certificates.
    pub certificates: Vec<CertificateFiles>,
    /// Offer HTTP/2 by ALPN (besides HTTP/1.1).
    pub http2: bool,
    pub hsts: Option<Hsts>,
    pub redirect: Option<Redirect>,
    /// How often the files are checked for changes.
    pub reload_poll: Duration,
}

impl TlsConfig {
    /// One certificate, HTTP/2 on, no HSTS, no redirect listener.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        TlsConfig {
            certificates: vec![CertificateFiles {
                cert_file: cert_file.into(),
                key_file: key_file.into(),
            }],
            http2: true,
            hsts: None,
            redirect: None,
            reload_poll: DEFAULT_CERT_POLL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_says_what_was_asked() {
        let mut hsts = Hsts {
            max_age: Duration::from_secs(31_536_000),
            include_subdomains: false,
            preload: false,
        };
        assert_eq!(hsts.header_value(), "max-age=31536000");
        hsts.include_subdomains = true;
        hsts.preload = true;
        assert_eq!(
            hsts.header_value(),
            "max-age=31536000; includeSubDomains; preload"
        );
    }
}
