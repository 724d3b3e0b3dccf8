//! Pushing decision data: after each commit, write newer entries to Redis and
//! tell every gateway to drop its local copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use wrnexus_backends::{RedisClient, RedisConnection, RedisSetupError, Topology};
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
    conn: RedisConnection,
    script: Arc<redis::Script>,
    ttl_secs: u64,
    /// Replicas that must hold a published entry before it counts as
    /// pushed (Sentinel and Cluster: 1, when the master has one). A master
    /// that fails over promotes a replica; an entry only the old master
    /// held would be lost with it, and gateways would read the older one.
    acks: i64,
}

/// How long a push waits for a replica's acknowledgement.
const REPLICA_ACK_MS: i64 = 200;

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
        let mut conn = client.connection().await?;
        let acks = match client.topology() {
            Topology::Node => 0,
            Topology::Sentinel { .. } | Topology::Cluster => {
                // `WAIT 0 0` answers at once with the replicas in step (on a
                // cluster, the fewest any master has).
                let replicas: i64 = redis::cmd("WAIT")
                    .arg(0)
                    .arg(0)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| client.explain(&e))?;
                if replicas == 0 {
                    tracing::warn!(
                        "redis has no replica in step: a failover now would lose the latest \
                         entries (gateways would read older ones until they change or expire)"
                    );
                }
                1
            }
        };
        Ok(Pusher {
            redis: Some(RedisPush {
                conn,
                script: Arc::new(redis::Script::new(SET_IF_NEWER)),
                ttl_secs: ttl.as_secs().max(1),
                acks,
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
    pub fn redis_connection(&self) -> Option<RedisConnection> {
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
            let result = if publish && self.acks > 0 {
                self.write_replicated(key, body, inv.version, channel, &message)
                    .await
            } else {
                self.write_one(key, body, inv.version, channel, &message)
                    .await
            };
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

    /// Set the entry if newer (and publish, given a channel).
    async fn write_one(
        &mut self,
        key: &str,
        body: &str,
        version: i64,
        channel: &str,
        message: &str,
    ) -> Result<(), redis::RedisError> {
        self.script
            .key(key)
            .arg(body)
            .arg(version)
            .arg(self.ttl_secs)
            .arg(channel)
            .arg(message)
            .invoke_async::<i64>(&mut self.conn)
            .await
            .map(drop)
    }

    /// [`Self::write_one`], then wait until a replica holds it: one
    /// pipeline, so that on a cluster the wait goes to the node the key
    /// lives on. No acknowledgement within the wait while the master has a
    /// replica is a failure, retried (the entry and its invalidation again:
    /// versions make that harmless), on the new master after a failover. A
    /// master without any replica (the only node left after a failover)
    /// has nobody to wait for.
    async fn write_replicated(
        &mut self,
        key: &str,
        body: &str,
        version: i64,
        channel: &str,
        message: &str,
    ) -> Result<(), redis::RedisError> {
        let (_stored, acked, role): (i64, i64, redis::Value) = redis::pipe()
            .cmd("EVAL")
            .arg(SET_IF_NEWER)
            .arg(1)
            .arg(key)
            .arg(body)
            .arg(version)
            .arg(self.ttl_secs)
            .arg(channel)
            .arg(message)
            .cmd("WAIT")
            .arg(self.acks)
            .arg(REPLICA_ACK_MS)
            .cmd("ROLE")
            .query_async(&mut self.conn)
            .await?;
        if acked >= self.acks || replicas_of(&role) == 0 {
            Ok(())
        } else {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no replica acknowledged the write",
            )))
        }
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

/// How many replicas a master's `ROLE` answer lists.
fn replicas_of(role: &redis::Value) -> usize {
    match role {
        redis::Value::Array(parts) => match parts.get(2) {
            Some(redis::Value::Array(replicas)) => replicas.len(),
            _ => 0,
        },
        _ => 0,
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
