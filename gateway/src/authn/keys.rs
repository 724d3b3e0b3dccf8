//! The control plane's public keys, fetched on a schedule (never on demand:
//! a token cannot make the gateway fetch a key it names).

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Verification keys by `kid`. Only Ed25519 keys are accepted.
#[derive(Default)]
pub struct KeyRing {
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// The `(kid, x)` pairs in force, sorted: tells a change from a no-op refresh.
    fingerprint: Mutex<Vec<(String, String)>>,
    /// Bumped (after the new keys are in place) whenever the key set changes.
    generation: AtomicU64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.len())
            .finish()
    }
}

/// Fetching keys failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("fetching keys: {0}")]
    Fetch(#[from] reqwest::Error),
    #[error("the key set holds no usable Ed25519 key")]
    Empty,
}

impl KeyRing {
    pub fn get(&self, kid: &str) -> Option<DecodingKey> {
        self.snapshot().get(kid).cloned()
    }

    /// Changes whenever the set of keys changes; a verification made under
    /// an older generation may have used a key that is gone.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<HashMap<String, DecodingKey>> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replace the keys with the Ed25519 ones of `set`.
    pub fn replace(&self, set: &JwkSet) -> Result<usize, KeyError> {
        let mut keys = HashMap::new();
        let mut fingerprint = Vec::new();
        for jwk in &set.keys {
            let (Some(kid), AlgorithmParameters::OctetKeyPair(okp)) =
                (&jwk.common.key_id, &jwk.algorithm)
            else {
                continue;
            };
            if okp.curve != EllipticCurve::Ed25519 {
                continue;
            }
            if let Ok(key) = DecodingKey::from_ed_components(&okp.x) {
                keys.insert(kid.clone(), key);
                fingerprint.push((kid.clone(), okp.x.clone()));
            }
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let n = keys.len();
        fingerprint.sort();
        let mut known = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
        if *known == fingerprint {
            return Ok(n);
        }
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
        *known = fingerprint;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(n)
    }

    /// Fetch `{control_plane}/v1/keys` and replace.
    pub async fn refresh(
        &self,
        client: &reqwest::Client,
        control_plane_url: &str,
    ) -> Result<usize, KeyError> {
        let url = format!("{}/v1/keys", control_plane_url.trim_end_matches('/'));
        let set: JwkSet = client
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        self.replace(&set)
    }
}
