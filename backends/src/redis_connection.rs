//! One Redis connection whatever the topology: a reconnecting connection to
//! a single node, a cluster connection (slots followed, MOVED handled), or a
//! connection to the master the sentinels name, found again after a
//! failover. Commands and scripts run on any of them alike.

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::Arc;
use tokio::sync::Mutex;

/// A connection to Redis. Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub enum RedisConnection {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedisConnection::Node(_) => "RedisConnection::Node",
            RedisConnection::Cluster(_) => "RedisConnection::Cluster",
            RedisConnection::Sentinel(_) => "RedisConnection::Sentinel",
        })
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Node(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
            RedisConnection::Sentinel(c) => Box::pin(c.command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Node(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Sentinel(c) => Box::pin(c.commands(pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Node(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
            RedisConnection::Sentinel(_) => 0,
        }
    }
}

/// The master the sentinels name. A connection error, or a node that
/// answers `READONLY` (demoted to replica by a failover), drops the
/// connection; the next command asks the sentinels again.
#[derive(Clone)]
pub struct SentinelConnection {
    sentinels: Arc<Mutex<SentinelClient>>,
    current: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl SentinelConnection {
    pub(crate) fn new(sentinels: Arc<Mutex<SentinelClient>>) -> Self {
        SentinelConnection {
            sentinels,
            current: Arc::default(),
        }
    }

    /// The master's connection: the one held, else a new one to the master
    /// the sentinels name now.
    pub(crate) async fn master(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut current = self.current.lock().await;
        if let Some(conn) = current.as_ref() {
            return Ok(conn.clone());
        }
        let client = self.sentinels.lock().await.async_get_client().await?;
        let conn = client.get_multiplexed_async_connection().await?;
        *current = Some(conn.clone());
        Ok(conn)
    }

    /// After `error`, whether to find the master again.
    async fn forget_on(&self, error: &RedisError) {
        let demoted = matches!(error.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"));
        if demoted
            || error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error()
        {
            *self.current.lock().await = None;
        }
    }

    async fn command(&self, cmd: &Cmd) -> Result<Value, RedisError> {
        let mut conn = self.master().await?;
        let result = conn.req_packed_command(cmd).await;
        if let Err(e) = &result {
            self.forget_on(e).await;
        }
        result
    }

    async fn commands(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>, RedisError> {
        let mut conn = self.master().await?;
        let result = conn.req_packed_commands(pipeline, offset, count).await;
        if let Err(e) = &result {
            self.forget_on(e).await;
        }
        result
    }
}
