//! Redis Sentinel and Redis Cluster on loopback: private `redis-server`s in
//! the set-ups a deployment fails over in, so a test can kill a master and
//! watch a replica take over.
//!
//! - [`SentinelSet`]: a master, one replica and three sentinels watching
//!   them (quorum 2, a master down after 1 s).
//! - [`ClusterSet`]: six cluster nodes, three masters with a replica each
//!   (node timeout 1 s).
//!
//! Every process dies with the set; a missing `redis-server` skips loudly
//! (a failure under `WRNEXUS_REQUIRE_SERVICES=1`).

use crate::TestResult;
use crate::process::{Proc, free_port};
use crate::services::absent;
use redis::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod cluster;

pub use cluster::ClusterSet;

/// How long a set may take to come up.
const STARTUP: Duration = Duration::from_secs(30);

/// How long one command to one node may take.
const ASK: Duration = Duration::from_secs(2);

/// The master name the sentinels monitor.
const MASTER_NAME: &str = "wrnexus-main";

fn program(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin"]
        .into_iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Send `cmd` to the node on `port` over a fresh connection.
pub async fn ask<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> TestResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let work = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        cmd.query_async::<T>(&mut conn).await
    };
    match tokio::time::timeout(ASK, work).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(format!("127.0.0.1:{port} did not answer within {ASK:?}").into()),
    }
}

/// `GET key` on the node on `port` (a cluster node answers only for its
/// own slots: another node's key is an error, not `None`).
pub async fn get(port: u16, key: &str) -> TestResult<Option<String>> {
    ask(port, redis::cmd("GET").arg(key)).await
}

/// The role a node reports (`ROLE`): `master`, `slave` or `sentinel`.
pub async fn role(port: u16) -> TestResult<String> {
    let answer: Vec<Value> = ask(port, &redis::cmd("ROLE")).await?;
    let first = answer.into_iter().next().ok_or("empty ROLE answer")?;
    Ok(redis::from_redis_value(first)?)
}

/// `field` of an `INFO` answer.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Poll `check` every 100 ms until it gives a value, for up to `bound`;
/// the error names `what` and the last thing that went wrong.
async fn poll<T, F, Fut>(what: &str, bound: Duration, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Option<T>>>,
{
    let deadline = Instant::now() + bound;
    let mut last = String::from("not yet");
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {bound:?} (last: {last})").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One `redis-server` on `port`; no process once killed.
#[derive(Debug)]
struct Node {
    port: u16,
    proc: Option<Proc>,
}

impl Node {
    fn alive(&self) -> bool {
        self.proc.is_some()
    }
}

/// Stop (SIGSTOP) or let run on (SIGCONT) the node on `port` of `nodes`:
/// stopped, it keeps its connections and answers nothing, as a node cut
/// off by a partition.
fn freeze(nodes: &[Node], port: u16, stop: bool) -> TestResult {
    let proc = nodes
        .iter()
        .find(|n| n.port == port)
        .and_then(|n| n.proc.as_ref())
        .ok_or_else(|| format!("no live node on {port}"))?;
    if stop { proc.pause() } else { proc.resume() }
}

/// Spawn a data node on `port` in `dir` with `extra` arguments.
fn spawn_data(program: &Path, dir: &Path, port: u16, extra: &[String]) -> TestResult<Proc> {
    let port_arg = port.to_string();
    let dir_arg = dir.display().to_string();
    let dbfilename = format!("dump-{port}.rdb");
    let mut args: Vec<&str> = vec![
        "--port",
        &port_arg,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir_arg,
        "--dbfilename",
        &dbfilename,
        // A replica syncs at once, not after the default 5 s wait for
        // others to share the transfer.
        "--repl-diskless-sync-delay",
        "0",
    ];
    args.extend(extra.iter().map(String::as_str));
    Proc::spawn_program(program, &format!("redis-{port}"), dir, &args, &[])
}

/// Until the node on `port` answers `PING`.
async fn wait_pong(port: u16) -> TestResult {
    poll(&format!("redis on {port} answering"), STARTUP, || async {
        let pong: String = ask(port, &redis::cmd("PING")).await?;
        Ok((pong == "PONG").then_some(()))
    })
    .await
}

fn logs(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .filter_map(|n| n.proc.as_ref())
        .map(|p| format!("--- {} ---\n{}", p.name, p.output()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A master, one replica and three sentinels monitoring the master as
/// [`SentinelSet::master_name`].
#[derive(Debug)]
pub struct SentinelSet {
    dir: PathBuf,
    program: PathBuf,
    /// The first master, then its replica.
    data: Vec<Node>,
    sentinels: Vec<Node>,
}

impl SentinelSet {
    /// Start it and wait until the replica is in sync and every sentinel
    /// knows the master, the replica and the two other sentinels.
    pub async fn start(dir: &Path) -> TestResult<Option<Self>> {
        let Some(program) = program("redis-server") else {
            return absent("redis-server", "no redis-server binary");
        };
        let mut set = SentinelSet {
            dir: dir.to_path_buf(),
            program,
            data: Vec::new(),
            sentinels: Vec::new(),
        };
        let (master, replica) = (free_port()?, free_port()?);
        set.spawn_data(master, &[])?;
        set.spawn_data(
            replica,
            &["--replicaof".into(), "127.0.0.1".into(), master.to_string()],
        )?;
        // Sentinels learn replicas from the master's INFO, which they ask
        // at once on connecting and only every 10 s after: the replica is
        // in sync before any sentinel starts.
        let synced = poll("the replica in sync", STARTUP, || {
            replica_synced(master, replica)
        })
        .await;
        set.or_logs(synced)?;
        for _ in 0..3 {
            set.spawn_sentinel(master)?;
        }
        let ready = poll("the sentinels ready", STARTUP, || {
            set.sentinels_ready(master)
        })
        .await;
        set.or_logs(ready)?;
        Ok(Some(set))
    }

    fn spawn_data(&mut self, port: u16, extra: &[String]) -> TestResult {
        let proc = spawn_data(&self.program, &self.dir, port, extra)?;
        self.data.push(Node {
            port,
            proc: Some(proc),
        });
        Ok(())
    }

    fn spawn_sentinel(&mut self, master: u16) -> TestResult {
        let port = free_port()?;
        let name = MASTER_NAME;
        let config = self.dir.join(format!("sentinel-{port}.conf"));
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\ndir \"{dir}\"\n\
                 sentinel resolve-hostnames no\n\
                 sentinel monitor {name} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {name} 1000\n\
                 sentinel failover-timeout {name} 5000\n\
                 sentinel parallel-syncs {name} 1\n",
                dir = self.dir.display()
            ),
        )?;
        let config = config.display().to_string();
        let proc = Proc::spawn_program(
            &self.program,
            &format!("sentinel-{port}"),
            &self.dir,
            &[&config, "--sentinel"],
            &[],
        )?;
        self.sentinels.push(Node {
            port,
            proc: Some(proc),
        });
        Ok(())
    }

    async fn sentinels_ready(&self, master: u16) -> TestResult<Option<()>> {
        for sentinel in &self.sentinels {
            let port = sentinel.port;
            if sentinel_master(port).await? != master {
                return Ok(None);
            }
            let replicas = sentinel_list(port, "REPLICAS").await?;
            let replica_up = replicas.iter().any(|r| {
                r.get("flags").is_some_and(|f| {
                    f == "slave" && r.get("master-link-status").is_some_and(|s| s == "ok")
                })
            });
            let others = sentinel_list(port, "SENTINELS").await?;
            if !replica_up || others.len() < self.sentinels.len() - 1 {
                return Ok(None);
            }
        }
        Ok(Some(()))
    }

    /// The set as the gateway and control plane take it:
    /// `redis+sentinel://127.0.0.1:s1,…/<master name>`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", nodes.join(","))
    }

    pub fn master_name(&self) -> &str {
        MASTER_NAME
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The master's port, as the first sentinel that answers reports it.
    pub async fn master_port(&self) -> TestResult<u16> {
        let mut last = String::from("no sentinel");
        for sentinel in self.sentinels.iter().filter(|s| s.alive()) {
            match sentinel_master(sentinel.port).await {
                Ok(port) => return Ok(port),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("no sentinel named the master: {last}").into())
    }

    /// Kill the current master's process (as a crash: nothing is saved);
    /// its port.
    pub async fn kill_master(&mut self) -> TestResult<u16> {
        let port = self.master_port().await?;
        let node = self
            .data
            .iter_mut()
            .find(|n| n.port == port)
            .ok_or_else(|| format!("the master on {port} is none of this set's nodes"))?;
        if let Some(mut proc) = node.proc.take() {
            proc.kill();
        }
        Ok(port)
    }

    /// Until every sentinel names a master other than `old_port` and that
    /// node answers `ROLE` as a master; its port.
    pub async fn wait_new_master(&self, old_port: u16, bound: Duration) -> TestResult<u16> {
        let what = format!("a master other than {old_port}");
        let found = poll(&what, bound, || async {
            let mut named = Vec::new();
            for sentinel in self.sentinels.iter().filter(|s| s.alive()) {
                named.push(sentinel_master(sentinel.port).await?);
            }
            let Some(&port) = named.first() else {
                return Err("no sentinel alive".into());
            };
            if port == old_port || named.iter().any(|&p| p != port) {
                return Err(format!("the sentinels name {named:?}").into());
            }
            let role = role(port).await?;
            Ok((role == "master").then_some(port))
        })
        .await;
        self.or_logs(found)
    }

    /// Stop the data node on `port` answering without closing anything
    /// (SIGSTOP), or let it run on: a partition of that node.
    pub fn freeze(&self, port: u16, stop: bool) -> TestResult {
        freeze(&self.data, port, stop)
    }

    /// Start a killed node again on its port, empty and answering as a
    /// master: the sentinels turn it into a replica of the new master.
    pub async fn restart_killed(&mut self) -> TestResult {
        let (program, dir) = (self.program.clone(), self.dir.clone());
        for node in self.data.iter_mut().filter(|n| !n.alive()) {
            node.proc = Some(spawn_data(&program, &dir, node.port, &[])?);
            wait_pong(node.port).await?;
        }
        Ok(())
    }

    /// Every live process's log.
    pub fn logs(&self) -> String {
        let nodes: Vec<&Node> = self.data.iter().chain(&self.sentinels).collect();
        logs(&nodes)
    }

    fn or_logs<T>(&self, result: TestResult<T>) -> TestResult<T> {
        result.map_err(|e| format!("{e}\n{}", self.logs()).into())
    }
}

/// The master `sentinel` names for [`MASTER_NAME`].
async fn sentinel_master(sentinel: u16) -> TestResult<u16> {
    let addr: Option<(String, String)> = ask(
        sentinel,
        redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME),
    )
    .await?;
    let (_, port) = addr.ok_or_else(|| format!("sentinel {sentinel} knows no master"))?;
    Ok(port.parse()?)
}

/// `SENTINEL <what> <name>` (`REPLICAS`, `SENTINELS`): one map a node.
async fn sentinel_list(
    sentinel: u16,
    what: &str,
) -> TestResult<Vec<std::collections::HashMap<String, String>>> {
    let rows: Vec<Vec<String>> =
        ask(sentinel, redis::cmd("SENTINEL").arg(what).arg(MASTER_NAME)).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            row.chunks_exact(2)
                .map(|kv| (kv[0].clone(), kv[1].clone()))
                .collect()
        })
        .collect())
}

/// The master has the replica online and the replica's link is up.
async fn replica_synced(master: u16, replica: u16) -> TestResult<Option<()>> {
    let info: String = ask(master, redis::cmd("INFO").arg("replication")).await?;
    let online = info_field(&info, "connected_slaves") == Some("1")
        && info_field(&info, "slave0").is_some_and(|s| s.contains("state=online"));
    let info: String = ask(replica, redis::cmd("INFO").arg("replication")).await?;
    let linked = info_field(&info, "master_link_status") == Some("up");
    Ok((online && linked).then_some(()))
}
