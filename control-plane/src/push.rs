//! Pushing decision data: after each commit, write newer entries to Redis and
//! tell every gateway to drop its local copy.

use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use wrnexus_backends::{RedisClient, RedisSetupError};
use wrnexus_policies::entries::INVALIDATION_CHANNEL;
use wrnexus_policies::{DecisionData, EntryKey, Invalidation, VersionedEntry};

/// Changed decision data, published once the transaction has committed.
pub type Changes = Vec<(EntryKey, VersionedEntry)>;

/// Set the entry only if its version is newer than the stored one; then,
/// when a channel is given, publish the invalidation. Atomic in Redis.
/// The invalidation is published whenever a channel is given, even when a
/// read-through fill already stored this version: gateways order by version.
const SET_IF_NEWER: &str = r#"
local stored = 0
local cur = redis.call('GET', KEYS[1])
local newer = true
if cur then
  local ok, decoded = pcall(cjson.decode, cur)
  if ok and type(decoded) == 'table' then
    local v = tonumber(decoded['version'])
    if v and v >= tonumber(ARGV[2]) then
      newer = false
    end
  end
end
if newer then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  stored = 1
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return stored
"#;

#[derive(Clone)]
struct RedisPush {
    conn: ConnectionManager,
    script: Arc<redis::Script>,
    ttl_secs: u64,
}

/// Where changes go. Cloning is cheap.
#[derive(Clone, Default)]
pub struct Pusher {
    redis: Option<RedisPush>,
    local: Option<broadcast::Sender<Invalidation>>,
    /// Entries published so far, by this pusher and its clones; `/metrics`
    /// reads it when scraped.
    published: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("redis", &self.redis.is_some())
            .field("local", &self.local.is_some())
            .finish()
    }
}

impl Pusher {
    /// Push nowhere (a control plane without gateways to tell).
    pub fn none() -> Self {
        Self::default()
    }

    /// Connect to Redis at `url` (trusting the system's CAs for
    /// `rediss://`); entries expire after `ttl` as a safety net.
    pub async fn with_redis(url: &str, ttl: Duration) -> Result<Self, RedisSetupError> {
        Self::with_redis_client(&RedisClient::open(url, None)?, ttl).await
    }

    /// Connect with `client` (its TLS settings); entries expire after `ttl`.
    pub async fn with_redis_client(
        client: &RedisClient,
        ttl: Duration,
    ) -> Result<Self, RedisSetupError> {
        let conn = client.connection_manager().await?;
        Ok(Pusher {
            redis: Some(RedisPush {
                conn,
                script: Arc::new(redis::Script::new(SET_IF_NEWER)),
                ttl_secs: ttl.as_secs().max(1),
            }),
            local: None,
            published: Arc::default(),
        })
    }

    /// Also tell in-process gateways (the embedded `wrnexus dev`).
    pub fn with_local(mut self, tx: broadcast::Sender<Invalidation>) -> Self {
        self.local = Some(tx);
        self
    }

    pub fn has_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// The bus changes go out on: `redis`, else `local` (in-process
    /// gateways, or nobody).
    pub fn bus(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "local"
        }
    }

    /// How many changed entries this pusher (with its clones) has published.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// The Redis connection, for other state every replica must share
    /// (the rate limits). A clone multiplexes onto the same connection.
    pub fn redis_connection(&self) -> Option<ConnectionManager> {
        self.redis.as_ref().map(|r| r.conn.clone())
    }

    /// Publish committed changes. A Redis failure is retried in the
    /// background; entries also expire, so a lost write heals itself.
    pub async fn publish(&self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        self.published
            .fetch_add(u64::try_from(changes.len()).unwrap_or(0), Ordering::Relaxed);
        let now_ms = Invalidation::now_ms();
        let invalidations: Vec<(String, String, Invalidation)> = changes
            .iter()
            .filter_map(|(key, entry)| {
                let key = key.cache_key();
                let body = serde_json::to_string(entry).ok()?;
                let inv = Invalidation {
                    key: key.clone(),
                    version: entry.version,
                    published_at_ms: now_ms,
                };
                Some((key, body, inv))
            })
            .collect();
        if let Some(redis) = &self.redis {
            let pending = redis.clone().write_all(&invalidations, true).await;
            if !pending.is_empty() {
                let redis = redis.clone();
                tokio::spawn(async move { redis.retry(pending).await });
            }
        }
        if let Some(local) = &self.local {
            for (_, _, inv) in invalidations {
                // No receiver just means no gateway is running yet.
                let _ = local.send(inv);
            }
        }
    }

    /// Store entries read on a gateway's miss (read-through fill), without
    /// publishing: nothing changed, nobody needs to drop anything.
    pub async fn fill(&self, data: &DecisionData) {
        let Some(redis) = &self.redis else { return };
        let items: Vec<(String, String, Invalidation)> = data
            .entries
            .iter()
            .filter_map(|(key, entry)| {
                let body = serde_json::to_string(entry).ok()?;
                let inv = Invalidation {
                    key: key.clone(),
                    version: entry.version,
                    published_at_ms: 0,
                };
                Some((key.clone(), body, inv))
            })
            .collect();
        let _ = redis.clone().write_all(&items, false).await;
    }
}

impl RedisPush {
    /// Write each entry; returns those that failed.
    async fn write_all(
        mut self,
        items: &[(String, String, Invalidation)],
        publish: bool,
    ) -> Vec<(String, String, Invalidation)> {
        let mut failed = Vec::new();
        for item in items {
            let (key, body, inv) = item;
            let message = if publish {
                serde_json::to_string(inv).unwrap_or_default()
            } else {
                String::new()
            };
            let channel = if publish { INVALIDATION_CHANNEL } else { "" };
            let started = std::time::Instant::now();
            let result: Result<i64, redis::RedisError> = self
                .script
                .key(key)
                .arg(body)
                .arg(inv.version)
                .arg(self.ttl_secs)
                .arg(channel)
                .arg(message)
                .invoke_async(&mut self.conn)
                .await;
            if publish && let Some(m) = crate::metrics::metrics() {
                m.redis_publish_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            if let Err(e) = result {
                tracing::warn!(key = %key, error = %e, "redis push failed");
                failed.push(item.clone());
            }
        }
        failed
    }

    async fn retry(self, mut pending: Vec<(String, String, Invalidation)>) {
        let mut delay = Duration::from_millis(200);
        for _ in 0..20 {
            tokio::time::sleep(delay).await;
            pending = self.clone().write_all(&pending, true).await;
            if pending.is_empty() {
                return;
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        tracing::error!(
            entries = pending.len(),
            "giving up pushing entries to redis; they expire with their TTL"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Pusher;
    use wrnexus_policies::{Entry, EntryKey, VersionedEntry, WorkspaceStatus};

    #[tokio::test]
    async fn a_pusher_counts_what_it_publishes() {
        let pusher = Pusher::none();
        let clone = pusher.clone();
        assert_eq!((pusher.bus(), pusher.published()), ("local", 0));
        let entry = VersionedEntry {
            version: 1,
            entry: Entry::Workspace {
                status: WorkspaceStatus::Active,
                plan: "free".into(),
                sign_in_methods: wrnexus_policies::SignInMethods::ALL,
                max_session_age_secs: None,
            },
        };
        clone
            .publish(vec![
                (EntryKey::Workspace("w1".into()), entry.clone()),
                (EntryKey::Workspace("w2".into()), entry),
            ])
            .await;
        clone.publish(Vec::new()).await;
        assert_eq!(pusher.published(), 2);
    }
}
