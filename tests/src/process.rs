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
/// by this process (the kernel may give a port just released again, and a
/// stack asks for several before binding any).
pub fn free_port() -> TestResult<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..64 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut given = GIVEN.lock().map_err(|_| "port list poisoned")?;
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err("no fresh loopback port after 64 tries".into())
}

/// A child process killed when dropped; its output goes to a log file.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
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
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env("WRNEXUS_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(Proc {
            name: name.to_string(),
            child: cmd.spawn()?,
            log,
        })
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
