//! The TLS settings of a `postgres://` URL as libpq spells them: `sslmode`
//! and `sslrootcert` (sqlx reads the same parameters, their `ssl-mode` and
//! `ssl-root-cert`/`ssl-ca` aliases, and the `PGSSLMODE` and
//! `PGSSLROOTCERT` variables). Checked before connecting — an unknown
//! mode, a CA file that cannot be used, a CA file the mode would ignore —
//! and a failed handshake explained in their words.

use crate::ca::{CaFile, CaFileError};
use crate::redact::redact_url;
use std::path::Path;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate is checked against trusted CAs.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Why a database URL's TLS settings cannot be used, or why TLS failed.
#[derive(Debug, thiserror::Error)]
pub enum PostgresTlsError {
    #[error("`{url}` is not a URL: {detail}")]
    BadUrl { url: String, detail: String },
    #[error(
        "`{url}`: `{setting}` is not an sslmode: use disable, allow, prefer, require, verify-ca \
         or verify-full"
    )]
    BadMode { url: String, setting: String },
    #[error(
        "`{url}`: `sslrootcert` is used only with sslmode=verify-ca or verify-full; with \
         sslmode={mode} the server's certificate is not checked against it"
    )]
    RootCertUnchecked { url: String, mode: &'static str },
    #[error("`{url}`: `sslrootcert`: {error}")]
    RootCert { url: String, error: CaFileError },
    #[error("`{url}`: TLS failed: {why}: {detail}")]
    Handshake {
        url: String,
        why: String,
        detail: String,
    },
}

/// Whether an I/O error is rustls ending a handshake: sqlx reports a
/// certificate that does not verify this way.
pub fn is_handshake_error(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

/// The TLS settings a database URL (and the environment) give.
#[derive(Debug, Clone)]
pub struct PostgresTls {
    /// The URL without credentials, for messages.
    url: String,
    pub mode: SslMode,
    /// The CA file the server's certificate is checked against (with the
    /// public web CAs sqlx trusts).
    pub root_cert: Option<CaFile>,
}

impl PostgresTls {
    /// Read and check the TLS settings of `url`, with the process's
    /// `PGSSLMODE` and `PGSSLROOTCERT` as defaults.
    pub fn of_url(url: &str) -> Result<Self, PostgresTlsError> {
        Self::of_url_with_env(url, |name| std::env::var(name).ok())
    }

    /// [`PostgresTls::of_url`] with the variables read from `env`.
    pub fn of_url_with_env(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PostgresTlsError> {
        let shown = redact_url(url);
        let parsed = url::Url::parse(url).map_err(|e| PostgresTlsError::BadUrl {
            url: shown.clone(),
            detail: e.to_string(),
        })?;
        // As sqlx reads them: the last of a parameter's spellings wins.
        let mut mode = env("PGSSLMODE").map(|v| ("PGSSLMODE", v));
        let mut root = env("PGSSLROOTCERT");
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "sslmode" | "ssl-mode" => mode = Some(("sslmode", value.into_owned())),
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => root = Some(value.into_owned()),
                _ => {}
            }
        }
        let mode = match mode {
            None => SslMode::Prefer,
            Some((name, value)) => {
                SslMode::parse(&value).ok_or_else(|| PostgresTlsError::BadMode {
                    url: shown.clone(),
                    setting: format!("{name}={value}"),
                })?
            }
        };
        let root_cert = match root.filter(|r| !r.trim().is_empty()) {
            None => None,
            Some(_) if !mode.verifies() => {
                return Err(PostgresTlsError::RootCertUnchecked {
                    url: shown,
                    mode: mode.as_str(),
                });
            }
            Some(root) => {
                let trimmed = root.trim();
                // sqlx takes a value that looks like PEM as the certificates themselves.
                let read = if trimmed.starts_with("-----BEGIN") && trimmed.ends_with("-----") {
                    CaFile::from_pem("inline PEM", root.into_bytes())
                } else {
                    CaFile::read(Path::new(&root))
                };
                Some(read.map_err(|error| PostgresTlsError::RootCert {
                    url: shown.clone(),
                    error,
                })?)
            }
        };
        Ok(PostgresTls {
            url: shown,
            mode,
            root_cert,
        })
    }

    /// A failed TLS handshake (sqlx's `detail`) in these settings' words.
    pub fn failed(&self, detail: &str) -> PostgresTlsError {
        let mode = self.mode.as_str();
        let why = if detail.contains("does not support TLS") {
            format!("the server does not offer TLS, which sslmode={mode} requires")
        } else if detail.contains("certificate") {
            match &self.root_cert {
                Some(ca) => format!(
                    "the server's certificate does not verify against `sslrootcert` (`{}`) \
                     with sslmode={mode}",
                    ca.origin()
                ),
                None => format!(
                    "the server's certificate does not verify against the public CAs with \
                     sslmode={mode} (set `sslrootcert` to the CA that signed it)"
                ),
            }
        } else {
            format!("sslmode={mode}")
        };
        PostgresTlsError::Handshake {
            url: self.url.clone(),
            why,
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::tests::CA_PEM;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn modes_and_root_certificates_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA_PEM).unwrap();
        let base = "postgres://app:secret@db.internal:5432/wrnexus";

        let plain = PostgresTls::of_url_with_env(base, no_env).unwrap();
        assert_eq!(
            (plain.mode, plain.root_cert.is_none()),
            (SslMode::Prefer, true)
        );

        let url = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
        let full = PostgresTls::of_url_with_env(&url, no_env).unwrap();
        assert_eq!(full.mode, SslMode::VerifyFull);
        assert_eq!(full.root_cert.map(|c| c.certificates()), Some(1));

        let err = PostgresTls::of_url_with_env(&format!("{base}?sslmode=verify_full"), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`sslmode=verify_full` is not an sslmode"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");

        let err =
            PostgresTls::of_url_with_env(base, |n| (n == "PGSSLMODE").then(|| "bogus".to_string()))
                .unwrap_err()
                .to_string();
        assert!(err.contains("`PGSSLMODE=bogus`"), "{err}");

        let url = format!("{base}?sslmode=require&sslrootcert={}", ca.display());
        let err = PostgresTls::of_url_with_env(&url, no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("with sslmode=require the server's certificate is not checked"),
            "{err}"
        );

        let url = format!(
            "{base}?sslmode=verify-ca&sslrootcert={}/nope.pem",
            dir.path().display()
        );
        let err = PostgresTls::of_url_with_env(&url, no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`sslrootcert`: cannot read `") && err.contains("nope.pem"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");

        let env_ca = ca.display().to_string();
        let from_env = PostgresTls::of_url_with_env(base, |n| match n {
            "PGSSLMODE" => Some("verify-ca".into()),
            "PGSSLROOTCERT" => Some(env_ca.clone()),
            _ => None,
        })
        .unwrap();
        assert_eq!(from_env.mode, SslMode::VerifyCa);
        assert!(from_env.root_cert.is_some());
    }

    #[test]
    fn a_failed_handshake_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA_PEM).unwrap();
        let url = format!(
            "postgres://app:secret@db/x?sslmode=verify-full&sslrootcert={}",
            ca.display()
        );
        let tls = PostgresTls::of_url_with_env(&url, no_env).unwrap();
        let err = tls
            .failed("invalid peer certificate: UnknownIssuer")
            .to_string();
        assert!(
            err.contains(&format!(
                "the server's certificate does not verify against `sslrootcert` (`{}`) with \
                 sslmode=verify-full: invalid peer certificate: UnknownIssuer",
                ca.display()
            )),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let require =
            PostgresTls::of_url_with_env("postgres://db/x?sslmode=require", no_env).unwrap();
        let err = require.failed("server does not support TLS").to_string();
        assert!(
            err.contains("does not offer TLS, which sslmode=require requires"),
            "{err}"
        );
    }
}
