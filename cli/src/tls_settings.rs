//! The `[gateway.tls]` table: the proxy listener's certificates (chosen by
//! SNI), HTTP/2, HSTS and the plain listener redirecting to HTTPS.

use crate::durations::{Ms, Secs};
use crate::settings::Settings;
use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::path::PathBuf;
use wrnexus_gateway::config::{CertificateFiles, Hsts, Redirect, TlsConfig};

/// `[gateway.tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain (PEM), served to clients naming no host or a
    /// host no other certificate covers.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// More certificates, each served to the names it covers.
    #[serde(default)]
    pub certificates: Vec<CertificateSettings>,
    /// Offer HTTP/2 (ALPN `h2`) besides HTTP/1.1 (default true).
    pub http2: Option<bool>,
    /// How often the files are looked at for changes (default 2 s).
    pub reload_poll_ms: Option<Ms>,
    /// Send `Strict-Transport-Security` with this max-age (absent: none).
    pub hsts_max_age_secs: Option<Secs>,
    pub hsts_include_subdomains: Option<bool>,
    pub hsts_preload: Option<bool>,
    /// A plain listener answering 308 to the same URL over HTTPS.
    pub redirect_listen: Option<String>,
    /// The ACME client's webroot: challenges under
    /// `/.well-known/acme-challenge/` are served from it on the redirect
    /// listener.
    pub acme_webroot: Option<PathBuf>,
}

/// One `certificates = [{ cert_file, key_file }]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TlsSettings {
    /// The listener's TLS as the gateway takes it; what is missing or
    /// contradictory names its key.
    pub fn to_config(&self, settings: &Settings) -> Result<TlsConfig> {
        let key = |k: &str| settings.locate(&format!("gateway.tls.{k}"));
        let mut certificates = Vec::new();
        match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => certificates.push(CertificateFiles {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            }),
            (None, None) => {}
            (Some(_), None) => {
                return Err(anyhow!(
                    "{}: `cert_file` needs its `key_file`",
                    key("cert_file")
                ));
            }
            (None, Some(_)) => {
                return Err(anyhow!(
                    "{}: `key_file` needs its `cert_file`",
                    key("key_file")
                ));
            }
        }
        certificates.extend(self.certificates.iter().map(|c| CertificateFiles {
            cert_file: c.cert_file.clone(),
            key_file: c.key_file.clone(),
        }));
        if certificates.is_empty() {
            return Err(anyhow!(
                "{}: `[gateway.tls]` needs `cert_file` and `key_file` (or `certificates`)",
                settings.locate("gateway.tls")
            ));
        }
        let hsts = match self.hsts_max_age_secs {
            Some(max_age) => Some(Hsts {
                max_age: max_age.duration,
                include_subdomains: self.hsts_include_subdomains.unwrap_or(false),
                preload: self.hsts_preload.unwrap_or(false),
            }),
            None if self.hsts_include_subdomains.is_some() || self.hsts_preload.is_some() => {
                return Err(anyhow!(
                    "{}: HSTS options need `hsts_max_age_secs`",
                    key("hsts_max_age_secs")
                ));
            }
            None => None,
        };
        let redirect = match (&self.redirect_listen, &self.acme_webroot) {
            (Some(listen), webroot) => Some(Redirect {
                listen: listen.clone(),
                acme_webroot: webroot.clone(),
            }),
            (None, Some(_)) => {
                return Err(anyhow!(
                    "{}: ACME challenges are served on the redirect listener: set `redirect_listen`",
                    key("acme_webroot")
                ));
            }
            (None, None) => None,
        };
        let mut config = TlsConfig::new(
            certificates[0].cert_file.clone(),
            certificates[0].key_file.clone(),
        );
        config.certificates = certificates;
        config.hsts = hsts;
        config.redirect = redirect;
        if let Some(http2) = self.http2 {
            config.http2 = http2;
        }
        if let Some(poll) = self.reload_poll_ms {
            config.reload_poll = poll.duration.max(std::time::Duration::from_millis(10));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    const GATEWAY: &str = "[gateway]\nlisten = \"127.0.0.1:8443\"\n\
                           control_plane_url = \"http://127.0.0.1:1\"\n\
                           upstream = \"http://127.0.0.1:2\"\n";

    fn gateway(tls: &str, env: &[(&str, &str)]) -> anyhow::Result<wrnexus_gateway::GatewayConfig> {
        let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Settings::parse_with_env(&format!("{GATEWAY}{tls}"), "t.toml", vars)?.gateway()
    }

    fn error(tls: &str) -> String {
        gateway(tls, &[])
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    #[test]
    fn the_table_becomes_the_listener_settings() {
        let config = gateway(
            "[gateway.tls]\ncert_file = \"a.pem\"\nkey_file = \"a.key\"\n\
             certificates = [{ cert_file = \"b.pem\", key_file = \"b.key\" }]\n\
             http2 = false\nhsts_max_age_secs = \"1d\"\nhsts_preload = true\n\
             redirect_listen = \"127.0.0.1:8080\"\nacme_webroot = \"/var/acme\"\n",
            &[],
        )
        .unwrap();
        let tls = config.tls.unwrap();
        let files: Vec<_> = tls
            .certificates
            .iter()
            .map(|c| {
                (
                    c.cert_file.display().to_string(),
                    c.key_file.display().to_string(),
                )
            })
            .collect();
        assert_eq!(
            files,
            [
                ("a.pem".into(), "a.key".into()),
                ("b.pem".into(), "b.key".into())
            ]
        );
        assert!(!tls.http2);
        let hsts = tls.hsts.unwrap();
        assert_eq!(hsts.header_value(), "max-age=86400; preload");
        let redirect = tls.redirect.unwrap();
        assert_eq!(redirect.listen, "127.0.0.1:8080");
        assert_eq!(
            redirect.acme_webroot.unwrap().display().to_string(),
            "/var/acme"
        );
        // From the environment alone, as a container would set it.
        let config = gateway(
            "",
            &[
                ("WRNEXUS_GATEWAY__TLS__CERT_FILE", "/run/tls/tls.crt"),
                ("WRNEXUS_GATEWAY__TLS__KEY_FILE", "/run/tls/tls.key"),
            ],
        )
        .unwrap();
        let tls = config.tls.unwrap();
        assert!(tls.http2 && tls.hsts.is_none() && tls.redirect.is_none());
        assert_eq!(
            tls.certificates[0].key_file.display().to_string(),
            "/run/tls/tls.key"
        );
    }

    #[test]
    fn what_is_missing_or_contradictory_is_named() {
        for (tls, key, why) in [
            (
                "cert_file = \"a\"\n",
                "gateway.tls.cert_file",
                "needs its `key_file`",
            ),
            (
                "key_file = \"a\"\n",
                "gateway.tls.key_file",
                "needs its `cert_file`",
            ),
            (
                "http2 = true\n",
                "gateway.tls",
                "needs `cert_file` and `key_file`",
            ),
            (
                "cert_file = \"a\"\nkey_file = \"b\"\nhsts_preload = true\n",
                "gateway.tls.hsts_max_age_secs",
                "need `hsts_max_age_secs`",
            ),
            (
                "cert_file = \"a\"\nkey_file = \"b\"\nacme_webroot = \"/x\"\n",
                "gateway.tls.acme_webroot",
                "set `redirect_listen`",
            ),
        ] {
            let err = error(&format!("[gateway.tls]\n{tls}"));
            assert!(err.contains(key) && err.contains(why), "{tls}: {err}");
        }
    }

    #[test]
    fn a_check_reads_the_certificate_files() {
        let settings = Settings::parse_with_env(
            &format!(
                "{GATEWAY}[gateway.tls]\ncert_file = \"/nonexistent/cert.pem\"\n\
                 key_file = \"/nonexistent/key.pem\"\nredirect_listen = \"nowhere\"\n"
            ),
            "t.toml",
            [],
        )
        .unwrap();
        let err = format!("{:#}", crate::validate::gateway(&settings).unwrap_err());
        assert!(
            err.contains("`gateway.tls`") && err.contains("cannot read `/nonexistent/cert.pem`"),
            "{err}"
        );
        assert!(err.contains("`gateway.tls.redirect_listen`"), "{err}");
    }
}
