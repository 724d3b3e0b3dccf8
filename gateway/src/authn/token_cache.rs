//! The verified-token cache: skips the EdDSA signature check (tens of µs) for
//! a session token already verified, without ever serving it past its `exp`.
//!
//! # Rules
//!
//! - **Key**: the SHA-256 of the exact token bytes; raw tokens are neither
//!   stored nor logged. Different bytes are a different entry, even when
//!   they decode to the same claims.
//! - **Expiry**: an entry is served only while `now < exp` (no leeway; the
//!   leeway window falls back to a full verification). Expired entries are
//!   dropped when met and evicted first when a shard is full.
//! - **Key-set changes**: every entry records the [`KeyRing`] generation it
//!   was verified under. Any change to the set of keys (a key added, removed
//!   or replaced) bumps the generation, and from then on older entries are
//!   misses: each token is verified again against the current keys. A token
//!   signed with a removed key therefore stops being accepted as soon as the
//!   refresh that removes the key lands — the same bound as without the cache.
//! - **Revocation** is not this cache's business: sessions, users and
//!   memberships are checked by the resolver on every request.
//! - **Bound**: at most `capacity` entries (split over shards); a full shard
//!   drops its expired entries, then an arbitrary sixteenth.
//!
//! Only successful verifications are cached.
//!
//! [`KeyRing`]: crate::authn::keys::KeyRing

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use wrnexus_policies::SessionClaims;

/// Entries kept when nothing is configured.
pub use crate::config::DEFAULT_TOKEN_CACHE_CAPACITY as DEFAULT_CAPACITY;

const SHARDS: usize = 16;

type TokenHash = [u8; 32];

struct Verified {
    claims: Arc<SessionClaims>,
    generation: u64,
    /// Read since eviction last passed by: kept one more round.
    used: bool,
}

type Shard = HashMap<TokenHash, Verified>;

/// Bounded map from token hash to verified claims.
pub struct TokenCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY)
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds since the Unix epoch, as in `exp`.
pub fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// `at` in seconds since the Unix epoch.
pub fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The cache key of `token`.
pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// A cache of about `capacity` entries; 0 turns caching off.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
        }
    }

    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    fn shard(&self, hash: &TokenHash) -> MutexGuard<'_, Shard> {
        lock(&self.shards[usize::from(hash[0]) % SHARDS])
    }

    /// The claims verified for exactly this token, if still valid at `now`
    /// under key-ring `generation`.
    pub fn get(&self, hash: &TokenHash, generation: u64, now: i64) -> Option<Arc<SessionClaims>> {
        if self.per_shard == 0 {
            return None;
        }
        let mut shard = self.shard(hash);
        let verified = shard.get_mut(hash)?;
        if verified.generation == generation && now < verified.claims.exp {
            verified.used = true;
            return Some(verified.claims.clone());
        }
        shard.remove(hash);
        None
    }

    /// Remember a successful verification made under key-ring `generation`.
    pub fn insert(&self, hash: TokenHash, claims: Arc<SessionClaims>, generation: u64, now: i64) {
        if self.per_shard == 0 || claims.exp <= now {
            return;
        }
        let mut shard = self.shard(&hash);
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            shard.retain(|_, v| v.claims.exp > now && v.generation == generation);
            if shard.len() >= self.per_shard {
                // A sixteenth goes, tokens not read since eviction last
                // passed by first (a second chance, as the data cache's).
                let want = self.per_shard / 16 + 1;
                let mut evict: Vec<TokenHash> = Vec::with_capacity(want);
                for (k, v) in shard.iter_mut() {
                    if v.used {
                        v.used = false;
                    } else if evict.len() < want {
                        evict.push(*k);
                    }
                }
                let short = want - evict.len();
                for k in evict {
                    shard.remove(&k);
                }
                let more: Vec<TokenHash> = shard.keys().take(short).copied().collect();
                for k in more {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            hash,
            Verified {
                claims,
                generation,
                used: false,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sid: &str, exp: i64) -> Arc<SessionClaims> {
        Arc::new(SessionClaims {
            iss: "wrnexus".into(),
            aud: "wrnexus-gateway".into(),
            sub: "u".into(),
            wid: "w".into(),
            sid: sid.into(),
            iat: 0,
            exp,
            amr: Vec::new(),
            auth_time: 0,
            sso_wid: None,
        })
    }

    #[test]
    fn serves_the_same_token_bytes_only() {
        let cache = TokenCache::new(64);
        let now = 1_000;
        cache.insert(token_hash("a.b.c"), claims("s", now + 60), 1, now);
        assert_eq!(
            cache
                .get(&token_hash("a.b.c"), 1, now)
                .map(|c| c.sid.clone()),
            Some("s".to_string())
        );
        assert!(cache.get(&token_hash("a.b.c "), 1, now).is_none());
        assert!(cache.get(&token_hash("a.b.d"), 1, now).is_none());
    }

    #[test]
    fn never_serves_an_expired_token() {
        let cache = TokenCache::new(64);
        let now = 1_000;
        cache.insert(token_hash("t"), claims("s", now + 10), 1, now);
        assert!(cache.get(&token_hash("t"), 1, now + 9).is_some());
        assert!(cache.get(&token_hash("t"), 1, now + 10).is_none());
        assert!(cache.is_empty(), "the expired entry is dropped when met");
        // Already expired: not even kept.
        cache.insert(token_hash("old"), claims("s", now), 1, now);
        assert!(cache.get(&token_hash("old"), 1, now - 100).is_none());
    }

    #[test]
    fn a_key_set_change_drops_earlier_verifications() {
        let cache = TokenCache::new(64);
        cache.insert(token_hash("t"), claims("s", 2_000), 7, 1_000);
        assert!(cache.get(&token_hash("t"), 8, 1_000).is_none());
        assert!(cache.get(&token_hash("t"), 7, 1_000).is_none(), "dropped");
    }

    #[test]
    fn stays_within_capacity() {
        let cache = TokenCache::new(256);
        for i in 0..10_000 {
            cache.insert(token_hash(&format!("t{i}")), claims("s", 2_000), 1, 1_000);
        }
        assert!(cache.len() <= 256, "{} entries", cache.len());
        assert!(cache.get(&token_hash("t9999"), 1, 1_000).is_some());
    }

    #[test]
    fn a_token_in_use_outlives_the_ones_passing_through() {
        let cache = TokenCache::new(256);
        let hot = token_hash("hot");
        cache.insert(hot, claims("s", 2_000), 1, 1_000);
        for i in 0..10_000 {
            cache.insert(token_hash(&format!("t{i}")), claims("s", 2_000), 1, 1_000);
            assert!(
                cache.get(&hot, 1, 1_000).is_some(),
                "the token in use was evicted after {i} others"
            );
        }
        assert!(cache.len() <= 256, "{} entries", cache.len());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = TokenCache::new(0);
        cache.insert(token_hash("t"), claims("s", 2_000), 1, 1_000);
        assert!(cache.get(&token_hash("t"), 1, 1_000).is_none());
    }
}
