//! The gateway's public keys: parsed from a JWKS, held in memory, and —
//! for a remote key set — fetched on first use, on an unknown `kid` and
//! when old, but never more often than the refetch interval, so a flood of
//! made-up `kid`s cannot hammer the control plane.

use crate::error::VerifyError;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// After a failed fetch the next one may come this soon (if the refetch
/// interval is longer): without keys nothing verifies, and one request
/// every two seconds does not hammer anyone.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// Ed25519 signing keys by `kid`.
pub(crate) type KeySet = HashMap<String, DecodingKey>;

/// The usable keys of a JWKS document: Ed25519, with a `kid`, meant for
/// signatures. Other keys are skipped; a document that is not a JWKS at
/// all is an error.
pub(crate) fn parse_jwks(json: &[u8]) -> Result<KeySet, String> {
    let set: JwkSet = serde_json::from_slice(json).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = KeySet::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        let ed25519 = matches!(
            &jwk.algorithm,
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519
        );
        let for_eddsa = jwk
            .common
            .key_algorithm
            .is_none_or(|alg| alg == KeyAlgorithm::EdDSA);
        let for_signing = jwk
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == PublicKeyUse::Signature);
        if !(ed25519 && for_eddsa && for_signing) {
            continue;
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key `{kid}`: {e}"))?;
        keys.insert(kid.clone(), key);
    }
    Ok(keys)
}

/// Where a remote key set lives and how often it may be asked.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    pub url: reqwest::Url,
    pub client: reqwest::Client,
    /// The least time between two fetches.
    pub refetch_interval: Duration,
    /// Keys older than this are refetched (and used meanwhile).
    pub max_age: Duration,
}

#[derive(Default)]
struct Cached {
    keys: Arc<KeySet>,
    /// When the keys were last fetched; `None` before the first success.
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    fetches: u64,
}

/// A static or remote key set.
pub(crate) struct KeyCache {
    remote: Option<Remote>,
    cached: RwLock<Cached>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl KeyCache {
    pub fn fixed(keys: KeySet) -> Self {
        KeyCache {
            remote: None,
            cached: RwLock::new(Cached {
                keys: Arc::new(keys),
                fetched_at: Some(Instant::now()),
            }),
            fetch: tokio::sync::Mutex::default(),
        }
    }

    pub fn remote(remote: Remote) -> Self {
        KeyCache {
            remote: Some(remote),
            cached: RwLock::default(),
            fetch: tokio::sync::Mutex::default(),
        }
    }

    /// How many fetches were attempted so far.
    pub async fn fetches(&self) -> u64 {
        self.fetch.lock().await.fetches
    }

    /// The key `kid`, and whether the set it came from is fresh.
    fn peek(&self, kid: &str) -> (Option<DecodingKey>, bool) {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let fresh = match (&self.remote, cached.fetched_at) {
            (None, _) => true,
            (Some(remote), Some(at)) => at.elapsed() < remote.max_age,
            (Some(_), None) => false,
        };
        (cached.keys.get(kid).cloned(), fresh)
    }

    fn has_fetched(&self) -> bool {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.fetched_at.is_some()
    }

    fn store(&self, keys: KeySet) {
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        *cached = Cached {
            keys: Arc::new(keys),
            fetched_at: Some(Instant::now()),
        };
    }

    /// The key to verify a token signed with `kid`.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, VerifyError> {
        let (found, fresh) = self.peek(kid);
        let Some(remote) = &self.remote else {
            return found.ok_or(VerifyError::UnknownKey);
        };
        let mut state = match (found, fresh) {
            (Some(key), true) => return Ok(key),
            // Old keys still verify while someone else refreshes them.
            (Some(key), false) => match self.fetch.try_lock() {
                Ok(state) => state,
                Err(_) => return Ok(key),
            },
            (None, _) => self.fetch.lock().await,
        };
        // Another request may have fetched while this one waited.
        let (found, fresh) = self.peek(kid);
        if let (Some(key), true) = (&found, fresh) {
            return Ok(key.clone());
        }
        let interval = match state.last_error {
            Some(_) => remote.refetch_interval.min(RETRY_AFTER_FAILURE),
            None => remote.refetch_interval,
        };
        let allowed = state.last_attempt.is_none_or(|at| at.elapsed() >= interval);
        if !allowed {
            return match (found, self.has_fetched(), &state.last_error) {
                (Some(key), _, _) => Ok(key),
                (None, true, _) => Err(VerifyError::UnknownKey),
                (None, false, error) => Err(VerifyError::KeysUnavailable(
                    error.clone().unwrap_or_else(|| "not fetched yet".into()),
                )),
            };
        }
        state.last_attempt = Some(Instant::now());
        state.fetches = state.fetches.saturating_add(1);
        match fetch(remote).await {
            Ok(keys) => {
                state.last_error = None;
                let key = keys.get(kid).cloned();
                self.store(keys);
                key.ok_or(VerifyError::UnknownKey)
            }
            Err(error) => {
                tracing::warn!(url = %remote.url, %error, "fetching the assertion keys failed");
                state.last_error = Some(error.clone());
                found.ok_or(VerifyError::KeysUnavailable(error))
            }
        }
    }

    /// Fetch a remote key set now, whatever the interval (a no-op for a
    /// static one).
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let mut state = self.fetch.lock().await;
        state.last_attempt = Some(Instant::now());
        state.fetches = state.fetches.saturating_add(1);
        match fetch(remote).await {
            Ok(keys) => {
                state.last_error = None;
                self.store(keys);
                Ok(())
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                Err(VerifyError::KeysUnavailable(error))
            }
        }
    }
}

async fn fetch(remote: &Remote) -> Result<KeySet, String> {
    let response = remote
        .client
        .get(remote.url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {}: {e}", remote.url))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {} answered {status}", remote.url));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {}: {e}", remote.url))?;
    parse_jwks(&body)
}
