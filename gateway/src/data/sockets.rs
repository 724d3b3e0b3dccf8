//! Open WebSocket (upgraded) connections and what they depend on. When the
//! membership, session, API key or workspace behind one changes, the
//! connection is cut at its next frame in either direction; the client
//! reconnects and is decided afresh. After a gap in invalidations (Redis
//! reconnect) every connection is cut: a removal may have been missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Past this many watched keys, closed connections are swept on register.
const SWEEP_AT: usize = 10_000;

/// Registry of open upgraded connections by the cache keys they depend on.
#[derive(Debug, Default)]
pub struct OpenSockets {
    by_key: Mutex<HashMap<String, Vec<Weak<AtomicBool>>>>,
}

impl OpenSockets {
    /// Watch `keys` for a new connection; the flag turns true when it must close.
    pub fn register(&self, keys: &[String]) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_AT {
            map.retain(|_, watchers| {
                watchers.retain(|w| w.strong_count() > 0);
                !watchers.is_empty()
            });
        }
        for key in keys {
            let watchers = map.entry(key.clone()).or_default();
            watchers.retain(|w| w.strong_count() > 0);
            watchers.push(Arc::downgrade(&flag));
        }
        flag
    }

    /// `key` changed: every connection depending on it must close.
    pub fn revoke(&self, key: &str) {
        let watchers = self
            .by_key
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        for flag in watchers.into_iter().flatten().filter_map(|w| w.upgrade()) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Invalidations may have been missed: close everything.
    pub fn revoke_all(&self) {
        let map = std::mem::take(&mut *self.by_key.lock().unwrap_or_else(|p| p.into_inner()));
        for flag in map.into_values().flatten().filter_map(|w| w.upgrade()) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_cuts_only_the_connections_that_depend_on_it() {
        let sockets = OpenSockets::default();
        let a = sockets.register(&["m:w1:u1".into(), "w:w1".into()]);
        let b = sockets.register(&["m:w2:u1".into(), "w:w2".into()]);
        sockets.revoke("m:w1:u1");
        assert!(a.load(Ordering::Relaxed));
        assert!(!b.load(Ordering::Relaxed));
        sockets.revoke_all();
        assert!(b.load(Ordering::Relaxed));
    }

    #[test]
    fn closed_connections_are_forgotten() {
        let sockets = OpenSockets::default();
        drop(sockets.register(&["k".into()]));
        let live = sockets.register(&["k".into()]);
        let watchers = sockets.by_key.lock().map(|m| m["k"].len()).unwrap_or(0);
        assert_eq!(watchers, 1);
        sockets.revoke("k");
        assert!(live.load(Ordering::Relaxed));
    }
}
