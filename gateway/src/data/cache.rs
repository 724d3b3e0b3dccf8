//! The bounded in-process cache of decision data, with version tombstones so
//! that an invalidation is never undone by a slower fetch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wrnexus_policies::VersionedEntry;

enum Slot {
    Value {
        entry: Arc<VersionedEntry>,
        fetched: Instant,
        /// Read since eviction last passed by: kept one more round.
        used: bool,
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
    /// Bumped (under the lock) by every change of the slots: whatever was
    /// read at one epoch still holds while the epoch is the same.
    epoch: AtomicU64,
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
            epoch: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current epoch: read it before reading entries, and the entries
    /// are unchanged for as long as it stays the same.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    pub fn get(&self, key: &str) -> Option<Cached> {
        match self.lock().get_mut(key) {
            Some(Slot::Value {
                entry,
                fetched,
                used,
            }) => {
                *used = true;
                Some(Cached {
                    entry: entry.clone(),
                    age: fetched.elapsed(),
                })
            }
            _ => None,
        }
    }

    /// The entries for `keys` no older than `fresh_for` at `now`, in their
    /// order (`None`: missing or too old), in one look; and when the oldest
    /// of those found was fetched.
    pub fn get_fresh<K: AsRef<str>>(
        &self,
        keys: &[K],
        fresh_for: Duration,
        now: Instant,
    ) -> (Vec<Option<Arc<VersionedEntry>>>, Option<Instant>) {
        let mut found = Vec::with_capacity(keys.len() + 1);
        let mut oldest: Option<Instant> = None;
        let mut slots = self.lock();
        for key in keys {
            found.push(match slots.get_mut(key.as_ref()) {
                Some(Slot::Value {
                    entry,
                    fetched,
                    used,
                }) if now.saturating_duration_since(*fetched) <= fresh_for => {
                    *used = true;
                    oldest = Some(oldest.map_or(*fetched, |o| o.min(*fetched)));
                    Some(entry.clone())
                }
                _ => None,
            });
        }
        (found, oldest)
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
        slots.insert(
            key.to_string(),
            Slot::Value {
                entry,
                fetched,
                used: false,
            },
        );
        self.changed();
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
            self.changed();
        }
    }

    /// When full, evict a sixteenth of the entries: values not read since
    /// eviction last passed by, and tombstones, first (a second chance: the
    /// read ones lose their mark and stay this round); only when too few are
    /// unread, read ones too. A principal in use keeps its entries (all of
    /// them are read by each of its requests) while idle ones go.
    fn make_room(&self, slots: &mut HashMap<String, Slot>, key: &str) {
        if slots.len() < self.capacity || slots.contains_key(key) {
            return;
        }
        let want = self.capacity / 16 + 1;
        let mut evict: Vec<String> = Vec::with_capacity(want);
        for (k, slot) in slots.iter_mut() {
            match slot {
                Slot::Value { used, .. } if *used => *used = false,
                _ if evict.len() < want => evict.push(k.clone()),
                _ => {}
            }
        }
        let short = want - evict.len();
        for k in evict {
            slots.remove(&k);
        }
        if short > 0 {
            let more: Vec<String> = slots.keys().take(short).cloned().collect();
            for k in more {
                slots.remove(&k);
            }
        }
    }

    /// Forget every value (after missing invalidations, e.g. a Redis outage
    /// or failover), remembering each one's version: an entry read again
    /// that is older than what was held here (a write lost with a failed
    /// master) is not taken, so it is asked of the control plane instead.
    pub fn clear(&self) {
        let mut slots = self.lock();
        for slot in slots.values_mut() {
            if let Slot::Value { entry, .. } = slot {
                *slot = Slot::Tombstone {
                    version: entry.version,
                };
            }
        }
        self.changed();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The most entries kept (`cache_capacity`, at least 16).
    pub fn capacity(&self) -> usize {
        self.capacity
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
    fn a_full_cache_keeps_what_is_read_and_evicts_what_is_not() {
        let cache = LocalCache::new(64);
        let t0 = Instant::now();
        let hot = ["session:hot", "user:hot", "membership:hot", "workspace:hot"];
        for key in hot {
            cache.insert(key, member(1, Some(Role::Owner)).into(), t0);
        }
        // Many idle principals pass through, filling the cache many times
        // over, while the hot one keeps being read.
        for i in 0..2_000 {
            cache.insert(
                &format!("idle:{i}"),
                member(1, Some(Role::Viewer)).into(),
                t0,
            );
            let (found, _) = cache.get_fresh(&hot, Duration::from_secs(60), t0);
            assert!(
                found.iter().all(Option::is_some),
                "a hot entry was evicted after {i} idle inserts"
            );
        }
        assert!(cache.len() <= 64);
        // Everything read: eviction still makes room (read marks are spent).
        let all = LocalCache::new(16);
        for i in 0..40 {
            all.insert(&format!("k{i}"), member(1, None).into(), t0);
            for j in 0..=i {
                let _ = all.get(&format!("k{j}"));
            }
        }
        assert!(all.len() <= 16);
        assert!(all.get("k39").is_some(), "the newest entry was not kept");
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
    fn every_change_moves_the_epoch_and_reads_do_not() {
        let cache = LocalCache::new(100);
        let t0 = Instant::now();
        let start = cache.epoch();
        cache.insert("a", member(1, Some(Role::Owner)).into(), t0);
        let after_insert = cache.epoch();
        assert!(after_insert > start);
        let later = t0 + Duration::from_secs(5);
        cache.insert("b", member(1, Some(Role::Viewer)).into(), later);
        let (found, oldest) = cache.get_fresh(&["a", "b", "c"], Duration::from_secs(60), later);
        assert_eq!(found.iter().filter(|f| f.is_some()).count(), 2);
        assert_eq!(oldest, Some(t0), "the oldest entry found");
        let (found, _) = cache.get_fresh(&["a", "b"], Duration::from_secs(1), later);
        assert!(
            found[0].is_none() && found[1].is_some(),
            "too old is missing"
        );
        let seen = cache.epoch();
        assert!(cache.get("a").is_some());
        assert_eq!(cache.epoch(), seen, "a read changed the epoch");
        cache.invalidate("a", 7);
        assert!(cache.epoch() > seen, "an invalidation must move the epoch");
        let seen = cache.epoch();
        assert!(!cache.insert("a", member(3, None).into(), later));
        assert_eq!(cache.epoch(), seen, "a refused insert changed nothing");
        cache.clear();
        assert!(cache.epoch() > seen, "clearing must move the epoch");
    }

    #[test]
    fn after_a_clear_nothing_older_than_what_was_held_comes_back() {
        let cache = LocalCache::new(100);
        let t0 = Instant::now();
        cache.insert("a", member(5, Some(Role::Owner)).into(), t0);
        cache.insert("b", member(2, Some(Role::Viewer)).into(), t0);
        cache.clear();
        assert!(cache.get("a").is_none() && cache.get("b").is_none());
        // Version 4 is what a failed-over Redis still holds: refused.
        assert!(!cache.insert("a", member(4, Some(Role::Owner)).into(), t0));
        assert!(cache.get("a").is_none());
        assert!(cache.insert("a", member(5, None).into(), t0));
        assert!(cache.insert("b", member(3, Some(Role::Admin)).into(), t0));
        assert_eq!(cache.get("b").map(|c| c.entry.version), Some(3));
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
