//! The bounded in-process cache of decision data, with version tombstones so
//! that an invalidation is never undone by a slower fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wrnexus_policies::VersionedEntry;

enum Slot {
    Value {
        entry: Arc<VersionedEntry>,
        fetched: Instant,
    },
    /// Dropped by an invalidation at `version`: only newer data may return.
    Tombstone { version: i64 },
}

/// A cached entry and how old it is.
#[derive(Debug, Clone)]
pub struct Cached {
    /// Shared with the cache: reading an entry copies no data.
    pub entry: Arc<VersionedEntry>,
    pub age: Duration,
}

/// Bounded map from cache key to entry.
pub struct LocalCache {
    slots: Mutex<HashMap<String, Slot>>,
    capacity: usize,
}

impl std::fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl LocalCache {
    pub fn new(capacity: usize) -> Self {
        LocalCache {
            slots: Mutex::new(HashMap::new()),
            capacity: capacity.max(16),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Cached> {
        match self.lock().get(key) {
            Some(Slot::Value { entry, fetched }) => Some(Cached {
                entry: entry.clone(),
                age: fetched.elapsed(),
            }),
            _ => None,
        }
    }

    /// The entries for `keys` no older than `fresh_for`, in their order
    /// (`None`: missing or too old), in one look: one lock, one clock reading.
    pub fn get_fresh<K: AsRef<str>>(
        &self,
        keys: &[K],
        fresh_for: Duration,
    ) -> Vec<Option<Arc<VersionedEntry>>> {
        let mut found = Vec::with_capacity(keys.len() + 1);
        let slots = self.lock();
        let now = Instant::now();
        for key in keys {
            found.push(match slots.get(key.as_ref()) {
                Some(Slot::Value { entry, fetched })
                    if now.saturating_duration_since(*fetched) <= fresh_for =>
                {
                    Some(entry.clone())
                }
                _ => None,
            });
        }
        found
    }

    /// Keep `entry` unless something newer (or a newer invalidation) is
    /// known; returns whether it was kept. A refused entry is stale: the
    /// caller must not decide on it.
    pub fn insert(&self, key: &str, entry: Arc<VersionedEntry>, fetched: Instant) -> bool {
        let mut slots = self.lock();
        let known = match slots.get(key) {
            Some(Slot::Value { entry: old, .. }) => Some(old.version),
            Some(Slot::Tombstone { version }) => Some(*version),
            None => None,
        };
        if known.is_some_and(|v| v > entry.version) {
            return false;
        }
        self.make_room(&mut slots, key);
        slots.insert(key.to_string(), Slot::Value { entry, fetched });
        true
    }

    /// Drop the local copy; data older than `version` may not come back.
    pub fn invalidate(&self, key: &str, version: i64) {
        let mut slots = self.lock();
        let newer_kept =
            matches!(slots.get(key), Some(Slot::Value { entry, .. }) if entry.version >= version);
        if !newer_kept {
            self.make_room(&mut slots, key);
            slots.insert(key.to_string(), Slot::Tombstone { version });
        }
    }

    /// Evict some entries (values and tombstones alike) when full.
    fn make_room(&self, slots: &mut HashMap<String, Slot>, key: &str) {
        if slots.len() >= self.capacity && !slots.contains_key(key) {
            let evict: Vec<String> = slots.keys().take(self.capacity / 16 + 1).cloned().collect();
            for k in evict {
                slots.remove(&k);
            }
        }
    }

    /// Forget everything (after missing invalidations, e.g. a Redis outage).
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wrnexus_policies::{Entry, Role};

    fn member(version: i64, role: Option<Role>) -> VersionedEntry {
        VersionedEntry {
            version,
            entry: Entry::Membership {
                role,
                projects: None,
            },
        }
    }

    #[test]
    fn an_invalidation_is_not_undone_by_an_older_fetch() {
        let cache = LocalCache::new(100);
        cache.insert("k", member(1, Some(Role::Owner)).into(), Instant::now());
        cache.invalidate("k", 5);
        assert!(cache.get("k").is_none());
        assert!(!cache.insert("k", member(3, Some(Role::Owner)).into(), Instant::now()));
        assert!(cache.get("k").is_none(), "stale fetch came back");
        assert!(cache.insert("k", member(5, None).into(), Instant::now()));
        assert_eq!(
            cache.get("k").map(|c| c.entry),
            Some(member(5, None).into())
        );
    }

    #[test]
    fn stays_bounded() {
        let cache = LocalCache::new(32);
        for i in 0..1000 {
            cache.invalidate(&format!("t{i}"), i);
            cache.insert(&format!("k{i}"), member(i, None).into(), Instant::now());
        }
        assert!(cache.len() <= 32);
        assert!(cache.get("k999").is_some());
    }
}
