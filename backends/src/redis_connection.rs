//! One Redis connection whatever the topology: a reconnecting connection to
//! a single node, a cluster connection (slots followed, MOVED handled), or a
//! connection to the master the sentinels name, found again after a
//! failover. Commands and scripts run on any of them alike.

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a command may wait for its answer (and a connection for its
/// node): a node that stops answering without closing anything (a
/// partition, a stopped process) fails the command instead of holding it,
/// and whoever sent it (an API call pushing a change) goes on; the push is
/// retried.
pub const RESPONSE_WAIT: Duration = Duration::from_secs(2);

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

/// The master the sentinels name. A connection error, a node that does not
/// answer in time, or one that answers `READONLY` (demoted to replica by a
/// failover) drops the
/// connection and the command is sent once more to the master the
/// sentinels name then: the first command after a failover lands on the
/// new master instead of failing (what is sent here is safe to repeat:
/// versioned writes, reads, counters).
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
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_WAIT))
            .set_response_timeout(Some(RESPONSE_WAIT));
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *current = Some(conn.clone());
        Ok(conn)
    }

    /// After `error`, whether to find the master again (the connection is
    /// dropped then).
    async fn forget_on(&self, error: &RedisError) -> bool {
        let demoted = matches!(error.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"));
        let lost = demoted
            || error.is_timeout()
            || error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error();
        if lost {
            *self.current.lock().await = None;
        }
        lost
    }

    async fn command(&self, cmd: &Cmd) -> Result<Value, RedisError> {
        let mut result = Err(RedisError::from((redis::ErrorKind::Io, "not sent")));
        for _ in 0..2 {
            let mut conn = self.master().await?;
            result = conn.req_packed_command(cmd).await;
            match &result {
                Err(e) if self.forget_on(e).await => continue,
                _ => break,
            }
        }
        result
    }

    async fn commands(
        &self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> Result<Vec<Value>, RedisError> {
        let mut result = Err(RedisError::from((redis::ErrorKind::Io, "not sent")));
        for _ in 0..2 {
            let mut conn = self.master().await?;
            result = conn.req_packed_commands(pipeline, offset, count).await;
            match &result {
                Err(e) if self.forget_on(e).await => continue,
                _ => break,
            }
        }
        result
    }
}
