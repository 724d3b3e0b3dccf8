//! Whether the gateway can decide, and if not, what it waits for: the
//! admin listener's `/ready` answers from here, and a stop turns it
//! unready at once so load balancers stop sending before the drain.

use crate::authn::keys::KeyRing;
use crate::data::resolve::RedisLink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What readiness rests on.
#[derive(Debug)]
pub struct Readiness {
    keys: Arc<KeyRing>,
    redis: Option<Arc<RedisLink>>,
    stopping: AtomicBool,
}

impl Readiness {
    /// Ready once `keys` holds the control plane's signing keys and, when
    /// the gateway follows Redis, `redis` is subscribed to invalidations.
    pub fn new(keys: Arc<KeyRing>, redis: Option<Arc<RedisLink>>) -> Self {
        Readiness {
            keys,
            redis,
            stopping: AtomicBool::new(false),
        }
    }

    /// The gateway is stopping: unready from now on.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// What is missing, in words; empty when ready.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.is_stopping() {
            missing.push("shutting down");
        }
        if self.keys.is_empty() {
            missing.push("no signing keys from the control plane yet");
        }
        if self
            .redis
            .as_ref()
            .is_some_and(|r| !r.subscribed.load(Ordering::Relaxed))
        {
            missing.push("no Redis invalidation subscription yet");
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_keys_and_redis_and_turns_unready_on_stop() {
        let keys = Arc::new(KeyRing::default());
        let redis = Arc::new(RedisLink::default());
        let ready = Readiness::new(keys, Some(redis.clone()));
        assert_eq!(
            ready.missing(),
            vec![
                "no signing keys from the control plane yet",
                "no Redis invalidation subscription yet"
            ]
        );
        redis.subscribed.store(true, Ordering::Relaxed);
        assert_eq!(
            ready.missing(),
            vec!["no signing keys from the control plane yet"]
        );
        ready.stop();
        assert!(ready.missing().contains(&"shutting down"));
    }
}
