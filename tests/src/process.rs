//! Spawning the real binary and cleaning up after it.

use crate::TestResult;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `wrnexus` binary: `WRNEXUS_BIN` when set (the benchmarks run a
/// release build), else this build's (`cargo test --workspace` builds it
/// beside the test executables).
pub fn binary() -> TestResult<PathBuf> {
    if let Some(bin) = std::env::var_os("WRNEXUS_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("WRNEXUS_BIN: `{}` is not a file", bin.display()).into())
        };
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory")?;
    let bin = dir.join(format!("wrnexus{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "`{}` is missing: run the suites with `cargo test --workspace`",
            bin.display()
        )
        .into())
    }
}

/// A loopback port nobody listens on right now, and not handed out before
/// by this process (a stack asks for several before binding any). It is
/// drawn below the kernel's ephemeral range: a port from that range can be
/// taken by any outgoing connection (to Postgres, Redis, another test's
/// server) between this answer and the child's bind.
pub fn free_port() -> TestResult<u16> {
    use rand::Rng;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = if ephemeral_low > 12_000 {
        (10_000, ephemeral_low)
    } else {
        (ephemeral_low, u16::MAX)
    };
    let mut rng = rand::thread_rng();
    for _ in 0..256 {
        let port = rng.gen_range(low..high);
        if claim_ports(&[port])? {
            return Ok(port);
        }
    }
    Err("no fresh loopback port after 256 tries".into())
}

/// Claim `ports` together if each is free now and none was handed out
/// before by this process: whether they were.
pub fn claim_ports(ports: &[u16]) -> TestResult<bool> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().map_err(|_| "port list poisoned")?;
    let free = |p: &u16| !given.contains(p) && TcpListener::bind(("127.0.0.1", *p)).is_ok();
    if ports.iter().all(free) {
        given.extend_from_slice(ports);
        Ok(true)
    } else {
        Ok(false)
    }
}

/// A child process killed when dropped; its output goes to a log file.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
    command: Launch,
}

/// What a [`Proc`] was started with, to start it again.
#[derive(Debug, Clone)]
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Proc {
    /// Spawn `wrnexus` with `args` and `env`, logging to `dir/name.log`.
    pub fn spawn(name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TestResult<Self> {
        Self::spawn_program(&binary()?, name, dir, args, env)
    }

    /// Spawn any `program` the same way (e.g. a private `redis-server`).
    pub fn spawn_program(
        program: &Path,
        name: &str,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TestResult<Self> {
        let log = dir.join(format!("{name}.log"));
        let command = Launch {
            program: program.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let child = command.spawn(&log, false)?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
            command,
        })
    }

    /// Kill the process if it runs, and start it again with the same
    /// program, arguments and environment (its log goes on).
    pub fn respawn(&mut self) -> TestResult {
        self.kill();
        self.child = self.command.spawn(&self.log, true)?;
        Ok(())
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The operating system's id of the process (to read `/proc/<pid>`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fail with the log if the process has exited.
    pub fn check_running(&mut self) -> TestResult {
        if let Some(status) = self.child.try_wait()? {
            return Err(format!("{} exited ({status}):\n{}", self.name, self.output()).into());
        }
        Ok(())
    }

    /// Send SIGTERM (a graceful stop).
    pub fn terminate(&self) -> TestResult {
        self.signal("TERM")
    }

    /// Send SIGHUP (the gateway reloads its policies).
    pub fn hangup(&self) -> TestResult {
        self.signal("HUP")
    }

    /// Stop it where it stands (SIGSTOP): its connections stay open and
    /// answer nothing, as behind a network partition.
    pub fn pause(&self) -> TestResult {
        self.signal("STOP")
    }

    /// Let a paused process run on (SIGCONT).
    pub fn resume(&self) -> TestResult {
        self.signal("CONT")
    }

    fn signal(&self, name: &str) -> TestResult {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{name} {} failed", self.name).into())
        }
    }

    /// Wait up to `bound` for the process to exit; its exit status.
    pub fn wait_exit(&mut self, bound: Duration) -> TestResult<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("{} still running after {bound:?}", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launch {
    fn spawn(&self, log: &Path, append: bool) -> TestResult<Child> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env("WRNEXUS_LOG", "info");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Ok(cmd.spawn()?)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Poll `url` until it answers 2xx, failing with the process log on timeout.
pub async fn wait_ready(url: &str, proc: &mut Proc, timeout: Duration) -> TestResult {
    wait_ready_with(&reqwest::Client::new(), url, proc, timeout).await
}

/// [`wait_ready`] with `client` (one trusting a test CA, say).
pub async fn wait_ready_with(
    client: &reqwest::Client,
    url: &str,
    proc: &mut Proc,
    timeout: Duration,
) -> TestResult {
    let deadline = Instant::now() + timeout;
    loop {
        proc.check_running()?;
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{url} not ready after {timeout:?}; {} log:\n{}",
                proc.name,
                proc.output()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
