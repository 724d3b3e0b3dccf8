//! OpenID providers' discovery documents and signing keys, fetched from the
//! issuer URL and cached per issuer for a while. When a token names a key
//! the cached set lacks (the provider rotated its keys), the key set is
//! fetched again — at most once every few seconds per issuer, so a stream of
//! forged `kid`s cannot make the control plane hammer a provider.

use super::http::{FetchError, ProviderHttp};
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{DiscoveryError, IssuerUrl, ProviderMetadataWithLogout};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A provider's discovery document (with its end-session endpoint, when it
/// has one) and its key set.
pub type Metadata = ProviderMetadataWithLogout;

/// How long a discovery document is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The shortest time between two key set fetches for one issuer.
const KEYS_REFETCH_MIN: Duration = Duration::from_secs(5);

/// Why a provider's discovery failed, for the API to name.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryFailed {
    /// Nothing (readable) came back: network, timeout, refused address,
    /// an error status.
    #[error("{0}")]
    Unreachable(String),
    /// A document came back and is not a valid one for this issuer.
    #[error("{0}")]
    Invalid(String),
}

impl From<DiscoveryError<FetchError>> for DiscoveryFailed {
    fn from(e: DiscoveryError<FetchError>) -> Self {
        match e {
            DiscoveryError::Request(fetch) => DiscoveryFailed::Unreachable(fetch.to_string()),
            DiscoveryError::Response(status, _, _) => DiscoveryFailed::Unreachable(format!(
                "the provider answered {status} for its discovery document or key set"
            )),
            DiscoveryError::UrlParse(_) => {
                DiscoveryFailed::Invalid("the issuer is not a valid URL".to_string())
            }
            DiscoveryError::Parse(_) => DiscoveryFailed::Invalid(
                "the provider's discovery document or key set is not valid JSON of its kind"
                    .to_string(),
            ),
            DiscoveryError::Validation(message) => DiscoveryFailed::Invalid(format!(
                "the provider's discovery document does not match the issuer: {message}"
            )),
            other => DiscoveryFailed::Invalid(other.to_string()),
        }
    }
}

/// A provider as last fetched.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub metadata: Metadata,
    fetched_at: Instant,
    keys_fetched_at: Instant,
}

/// Discovery documents and key sets by issuer (kept apart for guarded and
/// trusted fetching: a workspace naming an operator's issuer gets its own
/// entry, fetched through the guard).
#[derive(Debug, Default)]
pub struct Providers {
    cache: Mutex<HashMap<(bool, String), Arc<Discovered>>>,
}

impl Providers {
    pub fn new() -> Self {
        Providers::default()
    }

    fn cached(&self, key: &(bool, String)) -> Option<Arc<Discovered>> {
        self.cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(key).cloned())
    }

    fn keep(&self, key: (bool, String), entry: Arc<Discovered>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, entry);
        }
    }

    /// The provider at `issuer`: cached, or discovered now.
    pub async fn discover(
        &self,
        http: &ProviderHttp,
        guarded: bool,
        issuer: &str,
    ) -> Result<Arc<Discovered>, DiscoveryFailed> {
        let key = (guarded, issuer.to_string());
        if let Some(entry) = self.cached(&key)
            && entry.fetched_at.elapsed() < DISCOVERY_TTL
        {
            return Ok(entry);
        }
        self.discover_now(http, guarded, issuer).await
    }

    /// Discover the provider at `issuer` now (a connection being saved is
    /// checked against the provider as it is), and cache it.
    pub async fn discover_now(
        &self,
        http: &ProviderHttp,
        guarded: bool,
        issuer: &str,
    ) -> Result<Arc<Discovered>, DiscoveryFailed> {
        let url = IssuerUrl::new(issuer.to_string())
            .map_err(|_| DiscoveryFailed::Invalid("the issuer is not a valid URL".to_string()))?;
        let metadata = Metadata::discover_async(url, http).await?;
        let now = Instant::now();
        let entry = Arc::new(Discovered {
            metadata,
            fetched_at: now,
            keys_fetched_at: now,
        });
        self.keep((guarded, issuer.to_string()), Arc::clone(&entry));
        Ok(entry)
    }

    /// The provider with its key set fetched again, when `seen` is the
    /// entry a token's key was missing from and the last fetch is not too
    /// recent; `None` when nothing new was fetched.
    pub async fn refresh_keys(
        &self,
        http: &ProviderHttp,
        guarded: bool,
        issuer: &str,
        seen: &Discovered,
    ) -> Result<Option<Arc<Discovered>>, DiscoveryFailed> {
        let key = (guarded, issuer.to_string());
        let current = self.cached(&key);
        if let Some(current) = &current {
            // Someone else fetched since `seen`: use theirs.
            if current.keys_fetched_at > seen.keys_fetched_at {
                return Ok(Some(Arc::clone(current)));
            }
            if current.keys_fetched_at.elapsed() < KEYS_REFETCH_MIN {
                return Ok(None);
            }
        }
        // Mark the attempt first so concurrent misses wait out the interval.
        let mut metadata = seen.metadata.clone();
        self.keep(
            key.clone(),
            Arc::new(Discovered {
                metadata: metadata.clone(),
                fetched_at: seen.fetched_at,
                keys_fetched_at: Instant::now(),
            }),
        );
        let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), http).await?;
        metadata = metadata.set_jwks(keys);
        let entry = Arc::new(Discovered {
            metadata,
            fetched_at: seen.fetched_at,
            keys_fetched_at: Instant::now(),
        });
        self.keep(key, Arc::clone(&entry));
        tracing::info!(issuer, "fetched a provider's rotated signing keys");
        Ok(Some(entry))
    }

    /// Forget the provider at `issuer` (a connection changed or went away).
    pub fn forget(&self, issuer: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(_, cached), _| cached != issuer);
        }
    }
}
