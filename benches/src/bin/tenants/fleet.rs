//! The stack under test: a private Redis, the control plane, the demo
//! upstream and one gateway on a seeded database; the processes' ids (for
//! their CPU time and memory from /proc) and their pinning to cores.

use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use wrnexus_e2e::services::PrivateRedis;
use wrnexus_e2e::stack::Stack;

pub use wrnexus_benches::harness::e2e;

/// Gateway settings of one run.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub cache_capacity: usize,
    pub token_cache_capacity: usize,
    pub cache_ttl_secs: u64,
    pub threads: usize,
}

impl GatewaySettings {
    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "WRNEXUS_GATEWAY__CACHE_CAPACITY".into(),
                self.cache_capacity.to_string(),
            ),
            (
                "WRNEXUS_GATEWAY__TOKEN_CACHE_CAPACITY".into(),
                self.token_cache_capacity.to_string(),
            ),
            (
                "WRNEXUS_GATEWAY__CACHE_TTL_SECS".into(),
                self.cache_ttl_secs.to_string(),
            ),
            ("WRNEXUS_GATEWAY__THREADS".into(), self.threads.to_string()),
            ("WRNEXUS_LOG".into(), "warn".into()),
        ]
    }
}

/// A running stack and its processes' ids. Dropping it stops everything.
pub struct Fleet {
    pub stack: Stack,
    pub gateway_pid: u32,
    pub control_plane_pid: u32,
    pub redis_pid: u32,
    pub upstream_pid: u32,
    _redis: PrivateRedis,
    dir: PathBuf,
}

impl Fleet {
    /// Start everything on `database_url` (already seeded).
    pub async fn start(database_url: &str, gateway: &GatewaySettings) -> Result<Fleet> {
        let dir = std::env::temp_dir().join(format!(
            "wrnexus-tenants-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let redis = e2e(PrivateRedis::start(&dir).await)?
            .ok_or_else(|| anyhow!("redis-server is needed (apt-get install redis-server)"))?;
        let env = gateway.env();
        let gateway_env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let stack = e2e(Stack::split_with_env(
            database_url,
            &redis.url(),
            &gateway_env,
            &[("WRNEXUS_LOG", "warn")],
        )
        .await)
        .context("starting the stack")?;
        let gateway_listen = stack.gateway.trim_start_matches("http://").to_string();
        let cp_listen = stack
            .control_plane
            .trim_start_matches("http://")
            .to_string();
        let gateway_pid = child_with(
            "environ",
            &format!("WRNEXUS_GATEWAY__LISTEN={gateway_listen}"),
        )?;
        let control_plane_pid = child_with(
            "environ",
            &format!("WRNEXUS_CONTROL_PLANE__LISTEN={cp_listen}"),
        )?;
        let upstream_pid = child_with(
            "cmdline",
            &format!("demo-upstream\0--listen\0{}", stack.upstream),
        )?;
        let redis_pid = child_with("cmdline", &format!("127.0.0.1:{}", redis.port))?;
        Ok(Fleet {
            stack,
            gateway_pid,
            control_plane_pid,
            redis_pid,
            upstream_pid,
            _redis: redis,
            dir,
        })
    }

    /// The gateway alone on `proxy_cpu`; everything else of the stack on
    /// `load_cpu` (as the load benchmark pins them).
    pub fn pin(&self, proxy_cpu: usize, load_cpu: usize) -> Result<()> {
        taskset(self.gateway_pid, proxy_cpu)?;
        for pid in [self.control_plane_pid, self.redis_pid, self.upstream_pid] {
            taskset(pid, load_cpu)?;
        }
        Ok(())
    }

    /// Every process's log, for failures.
    pub fn logs(&self) -> String {
        self.stack.logs()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Pin every thread of `pid` to `cpu`.
fn taskset(pid: u32, cpu: usize) -> Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .context("taskset (util-linux) is needed")?;
    if !out.status.success() {
        bail!(
            "taskset -p {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The child of this process whose `file` (`environ`, `cmdline`) holds
/// `needle`, not followed by a digit (a port is not a longer port's prefix).
fn child_with(file: &str, needle: &str) -> Result<u32> {
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let proc = Path::new("/proc").join(pid.to_string());
        if parent_of(&proc) != Some(me) {
            continue;
        }
        let Ok(bytes) = std::fs::read(proc.join(file)) else {
            continue;
        };
        let n = needle.len();
        let found = (0..bytes.len().saturating_sub(n - 1)).any(|i| {
            bytes.get(i..i + n) == Some(needle.as_bytes())
                && !bytes.get(i + n).is_some_and(u8::is_ascii_digit)
        });
        if found {
            return Ok(pid);
        }
    }
    bail!(
        "no child process with `{}` in its {file}",
        needle.replace('\0', " ")
    )
}

fn parent_of(proc: &Path) -> Option<u32> {
    let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of `pid` so far, in clock ticks (all threads).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(") ")
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after `) `.
    let utime: u64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: u64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    Ok(utime + stime)
}

/// Clock ticks per second of /proc/PID/stat.
pub fn clock_ticks() -> Result<u64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// Resident memory of `pid` (VmRSS), in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow!("odd VmRSS line"))?
        .parse()?;
    Ok(kib * 1024)
}
