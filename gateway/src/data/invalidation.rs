//! Receiving invalidations: from Redis pub/sub, or in-process in embedded
//! mode. Each one drops a local entry; the lag is measured.

use crate::data::cache::LocalCache;
use crate::data::resolve::RedisLink;
use crate::data::sockets::OpenSockets;
use crate::ops::metrics::Metrics;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast;
use wrnexus_backends::{RedisClient, Topology};
use wrnexus_policies::Invalidation;
use wrnexus_policies::entries::INVALIDATION_CHANNEL;

/// Where invalidations land: the local cache and the open connections.
#[derive(Debug, Clone)]
pub struct Sinks {
    pub cache: Arc<LocalCache>,
    pub sockets: Arc<OpenSockets>,
    pub metrics: Metrics,
}

impl Sinks {
    /// Invalidations may have been missed: forget everything.
    fn clear(&self) {
        self.cache.clear();
        self.sockets.revoke_all();
    }
}

fn apply(sinks: &Sinks, bus: &str, inv: &Invalidation) {
    let metrics = &sinks.metrics;
    sinks.cache.invalidate(&inv.key, inv.version);
    sinks.sockets.revoke(&inv.key);
    let lag_ms = (Invalidation::now_ms() - inv.published_at_ms).max(0);
    let lag = Duration::from_millis(u64::try_from(lag_ms).unwrap_or(0)).as_secs_f64();
    metrics
        .invalidation_lag_seconds
        .with_label_values(&[bus])
        .observe(lag);
}

/// Follow the in-process bus until it closes.
pub async fn follow_local(mut rx: broadcast::Receiver<Invalidation>, sinks: Sinks) {
    loop {
        match rx.recv().await {
            Ok(inv) => apply(&sinks, "local", &inv),
            Err(broadcast::error::RecvError::Lagged(_)) => sinks.clear(),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How often a quiet subscription is checked with a `PING`, and how long
/// the answer may take: a node cut off without a word (a partition, not a
/// closed connection) is noticed within both.
const HEARTBEAT: Duration = Duration::from_millis(500);
const HEARTBEAT_ANSWER: Duration = Duration::from_millis(1000);

/// Apply the invalidations `pubsub` receives until it ends, or stops
/// answering its heartbeat.
async fn listen(pubsub: redis::aio::PubSub, sinks: &Sinks) {
    let (mut sink, mut messages) = pubsub.split();
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = messages.next() => {
                let Some(msg) = msg else { return };
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Invalidation>(&payload) {
                    Ok(inv) => apply(sinks, "redis", &inv),
                    Err(e) => tracing::warn!(error = %e, "unreadable invalidation"),
                }
            }
            _ = beat.tick() => {
                let answer = tokio::time::timeout(HEARTBEAT_ANSWER, sink.ping::<redis::Value>()).await;
                if !matches!(answer, Ok(Ok(_))) {
                    tracing::warn!("redis subscription stopped answering");
                    return;
                }
            }
        }
    }
}

/// Keep a Redis connection for lookups and a subscription for
/// invalidations, reconnecting forever: to the same node, to the master
/// the sentinels name after a failover, or to another node of a cluster.
/// After any gap the local cache is cleared: invalidations may have been
/// missed (entries read afterwards come from Redis or the control plane,
/// and a version older than an invalidation seen here is not taken).
pub async fn follow_redis(client: RedisClient, link: Arc<RedisLink>, sinks: Sinks) {
    let metrics = sinks.metrics.clone();
    let mut logged_down = false;
    loop {
        if link.get().is_none() {
            match tokio::time::timeout(Duration::from_secs(2), client.connection()).await {
                Ok(Ok(conn)) => link.set(Some(conn)),
                _ => metrics.backend_errors.with_label_values(&["redis"]).inc(),
            }
        }
        let subscription = async {
            let mut pubsub = client.pubsub().await?;
            pubsub.subscribe(INVALIDATION_CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), subscription).await {
            Ok(Ok(pubsub)) => {
                sinks.clear();
                link.subscribed.store(true, Ordering::Relaxed);
                if logged_down {
                    tracing::info!("redis is back; local cache cleared");
                    logged_down = false;
                }
                listen(pubsub, &sinks).await;
                link.subscribed.store(false, Ordering::Relaxed);
                // The sentinels may name another master now: look again
                // (a cluster connection follows its slots on its own).
                if matches!(client.topology(), Topology::Sentinel { .. }) {
                    link.set(None);
                }
            }
            _ => {
                link.subscribed.store(false, Ordering::Relaxed);
            }
        }
        metrics.backend_errors.with_label_values(&["redis"]).inc();
        if !logged_down {
            tracing::warn!(
                "redis subscription lost; serving local entries up to the staleness bound"
            );
            logged_down = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
