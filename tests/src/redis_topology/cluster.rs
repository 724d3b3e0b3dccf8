//! [`ClusterSet`]: six Redis Cluster nodes on loopback, three masters with
//! a replica each, that a test fails over by killing a master.

use super::{
    Node, STARTUP, ask, freeze, info_field, logs, poll, program, role, spawn_data, wait_pong,
};
use crate::TestResult;
use crate::services::absent;
use redis::Value;
use std::path::Path;
use std::time::Duration;

/// Six cluster nodes: three masters, each with a replica.
#[derive(Debug)]
pub struct ClusterSet {
    nodes: Vec<Node>,
    /// Killed nodes' processes, to start again.
    down: Vec<(u16, crate::process::Proc)>,
}

impl ClusterSet {
    /// Start six nodes, make them a cluster (`redis-cli --cluster create`)
    /// and wait until every node is in it and reports `cluster_state:ok`.
    pub async fn start(dir: &Path) -> TestResult<Option<Self>> {
        let (Some(server), Some(cli)) = (program("redis-server"), program("redis-cli")) else {
            return absent("redis-server", "no redis-server or redis-cli binary");
        };
        let mut set = ClusterSet {
            nodes: Vec::new(),
            down: Vec::new(),
        };
        for _ in 0..6 {
            let port = cluster_port()?;
            let config = dir.join(format!("nodes-{port}.conf")).display().to_string();
            let extra: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config,
                "--cluster-node-timeout",
                "1000",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            let proc = spawn_data(&server, dir, port, &extra)?;
            set.nodes.push(Node {
                port,
                proc: Some(proc),
            });
        }
        for node in &set.nodes {
            let up = wait_pong(node.port).await;
            set.or_logs(up)?;
        }
        let mut create = tokio::process::Command::new(&cli);
        create.arg("--cluster").arg("create");
        for port in set.ports() {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(STARTUP, create.output())
            .await
            .map_err(|_| format!("redis-cli --cluster create took over {STARTUP:?}"))??;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed ({}):\n{}{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                set.logs()
            )
            .into());
        }
        let ready = poll("the cluster ready", STARTUP, || set.formed()).await;
        set.or_logs(ready)?;
        Ok(Some(set))
    }

    /// Every node is in state ok, sees three masters and three replicas,
    /// none failing, and every replica's link is up.
    async fn formed(&self) -> TestResult<Option<()>> {
        for node in &self.nodes {
            let info: String = ask(node.port, redis::cmd("CLUSTER").arg("INFO")).await?;
            if info_field(&info, "cluster_state") != Some("ok")
                || info_field(&info, "cluster_known_nodes") != Some("6")
            {
                return Ok(None);
            }
            let nodes: String = ask(node.port, redis::cmd("CLUSTER").arg("NODES")).await?;
            let flags: Vec<&str> = nodes
                .lines()
                .filter_map(|l| l.split_whitespace().nth(2))
                .collect();
            let masters = flags.iter().filter(|f| f.contains("master")).count();
            let replicas = flags.iter().filter(|f| f.contains("slave")).count();
            let troubled = flags
                .iter()
                .any(|f| f.contains("fail") || f.contains("handshake") || f.contains("noaddr"));
            if masters != 3 || replicas != 3 || troubled {
                return Ok(None);
            }
            if role(node.port).await? == "slave" {
                let info: String = ask(node.port, redis::cmd("INFO").arg("replication")).await?;
                if info_field(&info, "master_link_status") != Some("up") {
                    return Ok(None);
                }
            }
        }
        Ok(Some(()))
    }

    /// The set as the gateway and control plane take it:
    /// `redis+cluster://127.0.0.1:p1,…` (all six nodes).
    pub fn url(&self) -> String {
        self.url_from(0)
    }

    /// [`ClusterSet::url`] listing the nodes from node `i` on (wrapping).
    pub fn url_from(&self, i: usize) -> String {
        let ports = self.ports();
        let n = ports.len().max(1);
        let nodes: Vec<String> = (0..ports.len())
            .map(|k| format!("127.0.0.1:{}", ports[(i + k) % n]))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The nodes' ports, in the order of [`ClusterSet::url`].
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    fn live(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes.iter().filter(|n| n.alive()).map(|n| n.port)
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT` on a live node).
    pub async fn keyslot(&self, key: &str) -> TestResult<u16> {
        let port = self.live().next().ok_or("no cluster node alive")?;
        let slot: i64 = ask(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await?;
        Ok(u16::try_from(slot)?)
    }

    /// The port of the master owning `key`'s slot, as a live node sees it.
    pub async fn master_port_for(&self, key: &str) -> TestResult<u16> {
        let slot = self.keyslot(key).await?;
        let port = self.live().next().ok_or("no cluster node alive")?;
        slot_owner(port, slot).await
    }

    /// Kill the node on `port` (as a crash: nothing is saved).
    pub fn kill(&mut self, port: u16) -> TestResult {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .ok_or_else(|| format!("no cluster node on {port}"))?;
        let mut proc = node
            .proc
            .take()
            .ok_or_else(|| format!("the node on {port} is already down"))?;
        proc.kill();
        self.down.push((port, proc));
        Ok(())
    }

    /// Stop the node on `port` answering without closing anything
    /// (SIGSTOP), or let it run on: a partition of that node.
    pub fn freeze(&self, port: u16, stop: bool) -> TestResult {
        freeze(&self.nodes, port, stop)
    }

    /// Start every killed node again on its port with its cluster file: it
    /// rejoins the cluster (as a replica when its slots failed over).
    pub async fn restart_killed(&mut self) -> TestResult {
        for (port, mut proc) in std::mem::take(&mut self.down) {
            proc.respawn()?;
            wait_pong(port).await?;
            if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
                node.proc = Some(proc);
            }
        }
        Ok(())
    }

    /// Until every live node reports `cluster_state:ok` and names the same
    /// live node as the owner of `key`'s slot, and that node answers `ROLE`
    /// as a master; its port.
    pub async fn wait_slot_served(&self, key: &str, bound: Duration) -> TestResult<u16> {
        let slot = self.keyslot(key).await?;
        let what = format!("slot {slot} served by a live master");
        let found = poll(&what, bound, || async {
            let mut owners = Vec::new();
            for port in self.live() {
                let info: String = ask(port, redis::cmd("CLUSTER").arg("INFO")).await?;
                if info_field(&info, "cluster_state") != Some("ok") {
                    return Err(format!("node {port}: cluster state not ok").into());
                }
                owners.push(slot_owner(port, slot).await?);
            }
            let Some(&owner) = owners.first() else {
                return Err("no cluster node alive".into());
            };
            if owners.iter().any(|&o| o != owner) || !self.live().any(|p| p == owner) {
                return Err(format!("the nodes name owners {owners:?}").into());
            }
            Ok((role(owner).await? == "master").then_some(owner))
        })
        .await;
        self.or_logs(found)
    }

    /// Every live node's log.
    pub fn logs(&self) -> String {
        let nodes: Vec<&Node> = self.nodes.iter().collect();
        logs(&nodes)
    }

    fn or_logs<T>(&self, result: TestResult<T>) -> TestResult<T> {
        result.map_err(|e| format!("{e}\n{}", self.logs()).into())
    }
}

/// The master owning `slot` as the node on `port` sees it (`CLUSTER SLOTS`:
/// `[start, end, [ip, port, id, …], replicas…]` per range).
async fn slot_owner(port: u16, slot: u16) -> TestResult<u16> {
    let ranges: Vec<Vec<Value>> = ask(port, redis::cmd("CLUSTER").arg("SLOTS")).await?;
    for range in ranges {
        let mut fields = range.into_iter();
        let (Some(start), Some(end), Some(master)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (start, end): (i64, i64) = (
            redis::from_redis_value(start)?,
            redis::from_redis_value(end)?,
        );
        if (start..=end).contains(&i64::from(slot)) {
            let master: Vec<Value> = redis::from_redis_value(master)?;
            let owner = master
                .into_iter()
                .nth(1)
                .ok_or("no port in CLUSTER SLOTS")?;
            let owner: i64 = redis::from_redis_value(owner)?;
            return Ok(u16::try_from(owner)?);
        }
    }
    Err(format!("node {port} knows no owner of slot {slot}").into())
}

/// A port for a cluster node whose bus port (port + 10000) is free too.
/// Both are taken below the kernel's ephemeral range (no outgoing
/// connection lands on either) and claimed in the list
/// [`crate::process::free_port`] draws from too.
fn cluster_port() -> TestResult<u16> {
    let ephemeral_low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (low, high) = (11000_u32, ephemeral_low.min(65536).saturating_sub(10000));
    if high <= low + 100 {
        return Err(format!(
            "no room for cluster ports below the ephemeral range (it starts at {ephemeral_low})"
        )
        .into());
    }
    for _ in 0..256 {
        let random = uuid::Uuid::new_v4().as_u128();
        let port = u16::try_from(low + (random % u128::from(high - low)) as u32)?;
        if crate::process::claim_ports(&[port, port + 10000])? {
            return Ok(port);
        }
    }
    Err("no free cluster port (and bus port) after 256 tries".into())
}
