//! Redis clients, built in one place so that the topology (one node,
//! Sentinel, Cluster), `rediss://` and its CA apply to every connection a
//! process makes (lookups, pushes, pub/sub, rate limits). `#insecure` (the
//! certificate check turned off) is refused; a CA
//! file needs a `rediss://` URL; a certificate that does not verify is told
//! apart from Redis being down, so a start can refuse the one and ride out
//! the other.

use crate::ca::{CaFile, CaFileError};
use crate::redact::redact_url;
use crate::redis_connection::{RESPONSE_WAIT, RedisConnection, SentinelConnection};
use crate::redis_target::{RedisTarget, Topology};
use redis::IntoConnectionInfo;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// Why a Redis client cannot be built, or cannot connect.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error("`{url}` is not a Redis URL: {detail}")]
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

/// A Redis client with its TLS settings, for one node, a Sentinel-watched
/// master or a Cluster. Cloning is cheap.
#[derive(Clone)]
pub struct RedisClient {
    kind: Kind,
    target: RedisTarget,
    /// The URL without credentials, for messages.
    url: String,
    tls: bool,
    ca_origin: Option<String>,
}

#[derive(Clone)]
enum Kind {
    Node(redis::Client),
    Sentinel(Arc<Mutex<SentinelClient>>),
    Cluster {
        client: Box<ClusterClient>,
        /// One client per listed node, for the subscription (a message
        /// published on any node of a cluster reaches every node).
        seeds: Vec<redis::Client>,
        /// The node the next subscription tries first.
        next: Arc<AtomicUsize>,
    },
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("url", &self.url)
            .field("topology", &self.target.describe())
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_origin)
            .finish()
    }
}

impl RedisClient {
    /// A client for `url` (one node, `redis+sentinel://…` or
    /// `redis+cluster://…`; `rediss` for TLS), checking servers against
    /// `ca_file` when given, else the system's trust store. Nothing
    /// connects yet.
    pub fn open(url: &str, ca_file: Option<&Path>) -> Result<Self, RedisSetupError> {
        crate::install_crypto_provider();
        let shown = redact_url(url);
        let bad = |detail: String| RedisSetupError::BadUrl {
            url: shown.clone(),
            detail,
        };
        if url.split_once('#').is_some_and(|(_, f)| f == "insecure") {
            return Err(RedisSetupError::Insecure { url: shown });
        }
        let target = RedisTarget::parse(url).map_err(|e| bad(e.0))?;
        let ca = match ca_file {
            Some(_) if !target.tls => return Err(RedisSetupError::CaWithoutTls { url: shown }),
            Some(path) => Some(CaFile::read(path)?),
            None => None,
        };
        let certificates = || {
            ca.as_ref().map(|ca| redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.pem().to_vec()),
            })
        };
        let node = |url: &str| match certificates() {
            Some(certs) => redis::Client::build_with_tls(url, certs),
            None => redis::Client::open(url),
        };
        let kind = match &target.topology {
            Topology::Node => Kind::Node(node(url).map_err(|e| bad(e.to_string()))?),
            Topology::Cluster => {
                let mut builder = ClusterClientBuilder::new(target.nodes.clone())
                    .connection_timeout(RESPONSE_WAIT)
                    .response_timeout(RESPONSE_WAIT);
                if let Some(certs) = certificates() {
                    builder = builder.certs(certs);
                }
                let client = Box::new(builder.build().map_err(|e| bad(e.to_string()))?);
                let seeds = target
                    .nodes
                    .iter()
                    .map(|n| node(n))
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(e.to_string()))?;
                Kind::Cluster {
                    client,
                    seeds,
                    next: Arc::default(),
                }
            }
            Topology::Sentinel { master, db } => {
                let client = sentinel_client(&target, master, *db, certificates())
                    .map_err(|e| bad(e.to_string()))?;
                Kind::Sentinel(Arc::new(Mutex::new(client)))
            }
        };
        Ok(RedisClient {
            kind,
            tls: target.tls,
            target,
            url: shown,
            ca_origin: ca.map(|ca| ca.origin().to_string()),
        })
    }

    /// The URL without credentials.
    pub fn shown_url(&self) -> &str {
        &self.url
    }

    /// How the deployment is laid out.
    pub fn topology(&self) -> &Topology {
        &self.target.topology
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

    /// Connect once, within `within`: to the node, the master the
    /// sentinels name, or the cluster (its slots read).
    pub async fn probe(&self, within: Duration) -> Result<(), RedisSetupError> {
        let attempt = async {
            match &self.kind {
                Kind::Node(client) => client.get_multiplexed_async_connection().await.map(drop),
                Kind::Cluster { client, .. } => client.get_async_connection().await.map(drop),
                Kind::Sentinel(sentinels) => SentinelConnection::new(sentinels.clone())
                    .master()
                    .await
                    .map(drop),
            }
        };
        match tokio::time::timeout(within, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.explain(&e)),
            Err(_) => Err(RedisSetupError::Unreachable {
                url: self.url.clone(),
                detail: format!("no connection within {} ms", within.as_millis()),
            }),
        }
    }

    /// A connection that finds its way back on its own: it reconnects to a
    /// node, follows a cluster's slots, or asks the sentinels for the
    /// master again. One probe first, so that a certificate that does not
    /// verify fails at once rather than after retries, which a Redis still
    /// starting gets.
    pub async fn connection(&self) -> Result<RedisConnection, RedisSetupError> {
        if let Err(e) = self.probe(Duration::from_secs(5)).await
            && e.is_certificate()
        {
            return Err(e);
        }
        match &self.kind {
            Kind::Node(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(RESPONSE_WAIT))
                    .set_response_timeout(Some(RESPONSE_WAIT));
                redis::aio::ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map(RedisConnection::Node)
            }
            Kind::Cluster { client, .. } => client
                .get_async_connection()
                .await
                .map(RedisConnection::Cluster),
            Kind::Sentinel(sentinels) => {
                let conn = SentinelConnection::new(sentinels.clone());
                conn.master().await.map(|_| RedisConnection::Sentinel(conn))
            }
        }
        .map_err(|e| self.explain(&e))
    }

    /// A subscriber connection: to the node, to the master the sentinels
    /// name now (after a failover, call again), or to a cluster node that
    /// answers (pub/sub messages reach every node of a cluster): the first
    /// listed, else the ones after it in turn, each given a second.
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, redis::RedisError> {
        match &self.kind {
            Kind::Node(client) => client.get_async_pubsub().await,
            Kind::Sentinel(sentinels) => {
                let client = sentinels.lock().await.async_get_client().await?;
                client.get_async_pubsub().await
            }
            Kind::Cluster { seeds, next, .. } => {
                let mut last = None;
                for _ in 0..seeds.len() {
                    let at = next.load(Ordering::Relaxed) % seeds.len();
                    let Some(seed) = seeds.get(at) else { break };
                    match tokio::time::timeout(SEED_WAIT, seed.get_async_pubsub()).await {
                        Ok(Ok(pubsub)) => return Ok(pubsub),
                        Ok(Err(e)) => last = Some(e),
                        Err(_) => {
                            last = Some(redis::RedisError::from((
                                redis::ErrorKind::Io,
                                "no answer from a cluster node",
                            )))
                        }
                    }
                    next.store(at + 1, Ordering::Relaxed);
                }
                Err(last.unwrap_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "no cluster node listed",
                    ))
                }))
            }
        }
    }
}

/// How long one cluster node is given to take a subscription.
const SEED_WAIT: Duration = Duration::from_secs(1);

/// The sentinels of `target`, asked for `master`; the URL's credentials
/// and TLS apply to the sentinels and to the master alike.
fn sentinel_client(
    target: &RedisTarget,
    master: &str,
    db: i64,
    certificates: Option<redis::TlsCertificates>,
) -> Result<SentinelClient, redis::RedisError> {
    let mut addresses = Vec::new();
    for node in &target.nodes {
        let info = node.as_str().into_connection_info()?;
        addresses.push(info.addr().clone());
    }
    let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)?
        .set_client_to_redis_db(db);
    if target.tls {
        builder = builder
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
    }
    if let Some(certs) = certificates {
        builder = builder
            .set_client_to_redis_certificates(certs.clone())
            .set_client_to_sentinel_certificates(certs);
    }
    if let Some(user) = &target.username {
        builder = builder
            .set_client_to_redis_username(user)
            .set_client_to_sentinel_username(user);
    }
    if let Some(password) = &target.password {
        builder = builder
            .set_client_to_redis_password(password)
            .set_client_to_sentinel_password(password);
    }
    builder.build()
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

    #[test]
    fn sentinel_and_cluster_clients_are_built_with_tls_and_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA_PEM).unwrap();
        let s = RedisClient::open("rediss+sentinel://:pw@s1,s2:26380/wrnexus", Some(&ca)).unwrap();
        assert!(
            matches!(s.topology(), Topology::Sentinel { master, db: 0 } if master == "wrnexus")
        );
        assert_eq!(s.shown_url(), "rediss+sentinel://***@s1,s2:26380/wrnexus");
        let c = RedisClient::open("redis+cluster://n1:7000,n2:7001", None).unwrap();
        assert_eq!(c.topology(), &Topology::Cluster);
        let err = RedisClient::open("redis+cluster://n1:7000", Some(&ca)).unwrap_err();
        assert!(err.to_string().contains("not a `rediss://` URL"), "{err}");
        let err = RedisClient::open("redis+sentinel://s1:26379", None).unwrap_err();
        assert_eq!(err.key(), "redis_url");
        assert!(err.to_string().contains("no master name"), "{err}");
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
