//! The Redis under test, in each of the forms operators run, and the one
//! fault each form is put through: its (master) node crashes, the
//! topology recovers (a restart, a promoted replica), the node comes back.

use crate::TestResult;
use crate::redis_topology::{ClusterSet, SentinelSet};
use crate::services::PrivateRedis;
use std::path::Path;
use std::time::Duration;

/// Which Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Single,
    Sentinel,
    Cluster,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Single => "one node",
            Kind::Sentinel => "Sentinel",
            Kind::Cluster => "Cluster",
        }
    }
}

/// How long a topology may take to serve again after a crash.
const RECOVERY: Duration = Duration::from_secs(20);

/// A running Redis of one kind.
pub enum Redis {
    Single(PrivateRedis),
    Sentinel(SentinelSet),
    Cluster(ClusterSet),
}

impl Redis {
    /// Start `kind` under `dir`; `None` when redis-server is absent (and
    /// not required).
    pub async fn start(kind: Kind, dir: &Path) -> TestResult<Option<Redis>> {
        Ok(match kind {
            Kind::Single => PrivateRedis::start(dir).await?.map(Redis::Single),
            Kind::Sentinel => SentinelSet::start(dir).await?.map(Redis::Sentinel),
            Kind::Cluster => ClusterSet::start(dir).await?.map(Redis::Cluster),
        })
    }

    /// The `redis_url` gateways and control planes are given.
    pub fn url(&self) -> String {
        match self {
            Redis::Single(r) => r.url(),
            Redis::Sentinel(s) => s.url(),
            Redis::Cluster(c) => c.url(),
        }
    }

    /// The single node's port (the one form a proxy can stand in front of:
    /// Sentinel and Cluster hand out their nodes' own addresses).
    pub fn single_port(&self) -> Option<u16> {
        match self {
            Redis::Single(r) => Some(r.port),
            _ => None,
        }
    }

    /// Crash the node holding `key` (the master of its slot; the master;
    /// the one node) and wait until the topology serves `key` again: a
    /// sentence saying what happened.
    pub async fn crash_and_recover(&mut self, key: &str) -> TestResult<String> {
        match self {
            Redis::Single(r) => {
                r.kill();
                tokio::time::sleep(Duration::from_secs(3)).await;
                r.restart().await?;
                Ok("the Redis node killed, restarted empty 3 s later".into())
            }
            Redis::Sentinel(s) => {
                let old = s.kill_master().await?;
                let new = s.wait_new_master(old, RECOVERY).await?;
                s.restart_killed().await?;
                Ok(format!(
                    "master {old} killed, {new} promoted, {old} back as a replica"
                ))
            }
            Redis::Cluster(c) => {
                let old = c.master_port_for(key).await?;
                c.kill(old)?;
                let new = c.wait_slot_served(key, RECOVERY).await?;
                c.restart_killed().await?;
                Ok(format!(
                    "slot master {old} killed, {new} promoted, {old} back as a replica"
                ))
            }
        }
    }

    /// The master holding `key` (Sentinel, Cluster): stop it answering
    /// (SIGSTOP) as a partition of that node would; `None` for one node.
    pub async fn freeze_master(&mut self, key: &str) -> TestResult<Option<u16>> {
        Ok(match self {
            Redis::Single(_) => None,
            Redis::Sentinel(s) => {
                let port = s.master_port().await?;
                s.freeze(port, true)?;
                Some(port)
            }
            Redis::Cluster(c) => {
                let port = c.master_port_for(key).await?;
                c.freeze(port, true)?;
                Some(port)
            }
        })
    }

    /// Let a frozen node run on.
    pub fn thaw(&mut self, port: u16) -> TestResult {
        match self {
            Redis::Single(_) => Ok(()),
            Redis::Sentinel(s) => s.freeze(port, false),
            Redis::Cluster(c) => c.freeze(port, false),
        }
    }

    /// Every node's log.
    pub fn logs(&self) -> String {
        match self {
            Redis::Single(r) => format!("redis on {}", r.port),
            Redis::Sentinel(s) => s.logs(),
            Redis::Cluster(c) => c.logs(),
        }
    }
}
