//! Rate-limit counters in Redis, so that every control-plane replica counts
//! the same attempts: a fixed one-minute window per door and key, one Redis
//! counter each (the key hashed, so no email or address is stored), which
//! expires with its window.

use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use wrnexus_backends::RedisConnection;

/// Count one attempt; start the window's expiry on the first. Returns the
/// attempts so far in the window and the milliseconds it has left.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// Redis keys start with this.
pub const KEY_PREFIX: &str = "wrnexus:ratelimit:";

/// How long a count may take before this process counts on its own.
const TIMEOUT: Duration = Duration::from_millis(500);

/// The counters every replica shares.
#[derive(Clone)]
pub struct SharedCounter {
    conn: RedisConnection,
    script: Arc<redis::Script>,
    /// The deployment's own part of the key space: deployments (or test
    /// stacks) sharing one Redis do not share budgets.
    namespace: String,
}

/// Where a key stands in its window.
#[derive(Debug, Clone, Copy)]
pub struct Count {
    pub attempts: u64,
    pub window_left: Duration,
}

/// Why the shared count is unavailable (then the process counts alone).
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {TIMEOUT:?}")]
    Timeout,
}

/// The Redis key of `key` at `door` in a deployment's `namespace`.
pub fn redis_key(namespace: &str, door: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}{namespace}:{door}:{hex}")
}

impl SharedCounter {
    pub fn new(conn: RedisConnection, namespace: &str) -> Self {
        SharedCounter {
            conn,
            script: Arc::new(redis::Script::new(HIT)),
            namespace: namespace.to_string(),
        }
    }

    /// Count an attempt on `key` at `door`, in windows of `window`.
    pub async fn hit(&self, door: &str, key: &str, window: Duration) -> Result<Count, SharedError> {
        let mut conn = self.conn.clone();
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.script.key(redis_key(&self.namespace, door, key));
        invocation.arg(window_ms);
        let call = invocation.invoke_async::<(u64, i64)>(&mut conn);
        let (attempts, left_ms) = tokio::time::timeout(TIMEOUT, call)
            .await
            .map_err(|_| SharedError::Timeout)??;
        Ok(Count {
            attempts,
            window_left: Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)),
        })
    }
}
