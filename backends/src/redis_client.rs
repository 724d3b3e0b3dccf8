//! Redis clients, built in one place so that `rediss://` and its CA apply to
//! every connection a process makes (lookups, pushes, pub/sub, rate
//! limits). `#insecure` (the certificate check turned off) is refused; a CA
//! file needs a `rediss://` URL; a certificate that does not verify is told
//! apart from Redis being down, so a start can refuse the one and ride out
//! the other.

use crate::ca::{CaFile, CaFileError};
use crate::redact::redact_url;
use std::path::Path;
use std::time::Duration;

/// Why a Redis client cannot be built, or cannot connect.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error(
        "`{url}` is not a Redis URL like redis://127.0.0.1:6379 or \
         rediss://redis.internal:6380: {detail}"
    )]
    BadUrl { url: String, detail: String },
    #[error(
        "`{url}` asks for `#insecure`, which turns the check of the server's certificate off; \
         it is refused: name the CA that signed the server's certificate in `redis_ca_file`"
    )]
    Insecure { url: String },
    #[error(
        "`redis_ca_file` is set but `{url}` is not a `rediss://` URL: the connection would \
         not use TLS"
    )]
    CaWithoutTls { url: String },
    #[error(transparent)]
    Ca(#[from] CaFileError),
    #[error("redis at `{url}`: the server's certificate does not verify against {trust}: {detail}")]
    Certificate {
        url: String,
        trust: String,
        with_ca_file: bool,
        detail: String,
    },
    #[error("redis at `{url}`: {detail}")]
    Unreachable { url: String, detail: String },
}

impl RedisSetupError {
    /// The key (of `[gateway]` or `[control_plane]`) whose value is at fault.
    pub fn key(&self) -> &'static str {
        match self {
            RedisSetupError::Ca(_)
            | RedisSetupError::Certificate {
                with_ca_file: true, ..
            } => "redis_ca_file",
            _ => "redis_url",
        }
    }

    /// A certificate that does not verify: a setting to fix, not an outage.
    pub fn is_certificate(&self) -> bool {
        matches!(self, RedisSetupError::Certificate { .. })
    }
}

/// A Redis client with its TLS settings. Cloning is cheap.
#[derive(Clone)]
pub struct RedisClient {
    client: redis::Client,
    /// The URL without credentials, for messages.
    url: String,
    tls: bool,
    ca_origin: Option<String>,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_origin)
            .finish()
    }
}

impl RedisClient {
    /// A client for `url` (`redis://…` or `rediss://…`), checking the
    /// server against `ca_file` when given, else the system's trust store.
    /// Nothing connects yet.
    pub fn open(url: &str, ca_file: Option<&Path>) -> Result<Self, RedisSetupError> {
        crate::install_crypto_provider();
        let shown = redact_url(url);
        let bad = |detail: String| RedisSetupError::BadUrl {
            url: shown.clone(),
            detail,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.fragment() == Some("insecure") {
            return Err(RedisSetupError::Insecure { url: shown });
        }
        let tls = matches!(parsed.scheme(), "rediss" | "valkeys");
        let ca = match ca_file {
            Some(_) if !tls => return Err(RedisSetupError::CaWithoutTls { url: shown }),
            Some(path) => Some(CaFile::read(path)?),
            None => None,
        };
        let client = match &ca {
            Some(ca) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.pem().to_vec()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(RedisClient {
            client,
            url: shown,
            tls,
            ca_origin: ca.map(|ca| ca.origin().to_string()),
        })
    }

    /// The client, for connections of every kind.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The URL without credentials.
    pub fn shown_url(&self) -> &str {
        &self.url
    }

    /// A failed connection in the settings' words.
    pub fn explain(&self, error: &redis::RedisError) -> RedisSetupError {
        let detail = error.to_string();
        if self.tls && detail.contains("certificate") {
            let trust = match &self.ca_origin {
                Some(origin) => format!("`redis_ca_file` (`{origin}`)"),
                None => "the system's trust store (set `redis_ca_file` to the CA that signed it)"
                    .to_string(),
            };
            RedisSetupError::Certificate {
                url: self.url.clone(),
                trust,
                with_ca_file: self.ca_origin.is_some(),
                detail,
            }
        } else {
            RedisSetupError::Unreachable {
                url: self.url.clone(),
                detail,
            }
        }
    }

    /// Connect once, within `within`.
    pub async fn probe(&self, within: Duration) -> Result<(), RedisSetupError> {
        match tokio::time::timeout(within, self.client.get_multiplexed_async_connection()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.explain(&e)),
            Err(_) => Err(RedisSetupError::Unreachable {
                url: self.url.clone(),
                detail: format!("no connection within {} ms", within.as_millis()),
            }),
        }
    }

    /// A connection manager (it reconnects on its own). One probe first, so
    /// that a certificate that does not verify fails at once rather than
    /// after the manager's retries, which a Redis still starting gets.
    pub async fn connection_manager(
        &self,
    ) -> Result<redis::aio::ConnectionManager, RedisSetupError> {
        if let Err(e) = self.probe(Duration::from_secs(5)).await
            && e.is_certificate()
        {
            return Err(e);
        }
        redis::aio::ConnectionManager::new(self.client.clone())
            .await
            .map_err(|e| self.explain(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::tests::CA_PEM;

    #[test]
    fn urls_and_ca_files_are_checked_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA_PEM).unwrap();

        assert!(RedisClient::open("redis://127.0.0.1:6379", None).is_ok());
        let tls = RedisClient::open("rediss://:secret@cache.internal:6380/0", Some(&ca)).unwrap();
        assert_eq!(tls.shown_url(), "rediss://***@cache.internal:6380/0");
        assert!(RedisClient::open("rediss://cache.internal:6380", None).is_ok());

        let err = RedisClient::open("rediss://:secret@cache:6380/#insecure", None).unwrap_err();
        assert_eq!(err.key(), "redis_url");
        let text = err.to_string();
        assert!(
            text.contains("`#insecure`") && text.contains("refused"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");

        let err = RedisClient::open("redis://cache:6379", Some(&ca)).unwrap_err();
        assert_eq!(err.key(), "redis_url");
        assert!(err.to_string().contains("not a `rediss://` URL"), "{err}");

        let err =
            RedisClient::open("rediss://cache:6380", Some(&dir.path().join("no.pem"))).unwrap_err();
        assert_eq!(err.key(), "redis_ca_file");
        assert!(err.to_string().starts_with("cannot read `"), "{err}");

        let err = RedisClient::open("http://cache:6379", None).unwrap_err();
        assert!(err.to_string().contains("is not a Redis URL"), "{err}");
    }

    #[tokio::test]
    async fn nobody_listening_is_an_outage_not_a_certificate() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = RedisClient::open(&format!("rediss://127.0.0.1:{port}"), None).unwrap();
        let err = client.probe(Duration::from_secs(2)).await.unwrap_err();
        assert!(!err.is_certificate(), "{err}");
        assert_eq!(err.key(), "redis_url");
    }
}
