//! The soak's fleet and its principals: a team workspace with an owner,
//! an admin, members and viewers signed in by cookie, two API keys, and the
//! requests they make (the viewers' writes are the expected denials).

use crate::TestResult;
use crate::client::{self, create_api_key, create_workspace, join, sign_up, switch};
use crate::services::{PrivateRedis, fresh_postgres};
use crate::stack::Stack;
use reqwest::Method;

/// Rate limits raised so that preparing the principals from one loopback
/// address is not refused (the defaults guard people's doors).
const CONTROL_PLANE_ENV: &[(&str, &str)] = &[
    ("WRNEXUS_CONTROL_PLANE__SIGNIN_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__ACCEPT_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__INVITE_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__ACCOUNT_RATE_PER_MINUTE", "1000000"),
];

/// Distinct `/doc/…` paths the requests cycle through.
const PATHS: usize = 8;

/// A running fleet; dropping it stops every process.
pub struct Fleet {
    pub stack: Stack,
    /// Base URLs of the gateways.
    pub gateways: Vec<String>,
    // Kept for the fleet's lifetime (dropping stops the server).
    _redis: PrivateRedis,
    _redis_dir: tempfile::TempDir,
}

impl Fleet {
    /// Start the fleet; `None` when a service is missing.
    pub async fn start(gateways: usize) -> TestResult<Option<Fleet>> {
        let Some(database) = fresh_postgres().await? else {
            return Ok(None);
        };
        let redis_dir = tempfile::tempdir()?;
        let Some(redis) = PrivateRedis::start(redis_dir.path()).await? else {
            return Ok(None);
        };
        let url = redis.url();
        let mut stack = Stack::split_with_env(&database, &url, &[], CONTROL_PLANE_ENV).await?;
        let mut list = vec![stack.gateway.clone()];
        for _ in 1..gateways.max(1) {
            let (gateway, _) = stack.add_gateway(&url).await?;
            list.push(gateway);
        }
        Ok(Some(Fleet {
            stack,
            gateways: list,
            _redis: redis,
            _redis_dir: redis_dir,
        }))
    }

    /// The processes whose memory is watched: the gateways, then the
    /// control plane.
    pub fn watched(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .stack
            .procs
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| n.starts_with("gateway-"))
            .collect();
        names.push("control-plane".to_string());
        names
    }

    /// Fail (with its log) when a process of the fleet has exited.
    pub fn check_running(&mut self) -> TestResult {
        for proc in &mut self.stack.procs {
            proc.check_running()?;
        }
        Ok(())
    }

    /// The last `limit` warnings and errors the fleet's processes logged,
    /// each prefixed with its process's name.
    pub fn warnings(&self, limit: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for proc in &self.stack.procs {
            let output = proc.output();
            let found: Vec<String> = output
                .lines()
                .map(plain)
                .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                .collect();
            let skip = found.len().saturating_sub(limit);
            lines.extend(
                found
                    .iter()
                    .skip(skip)
                    .map(|l| format!("{}: {l}", proc.name)),
            );
        }
        let skip = lines.len().saturating_sub(limit);
        lines.split_off(skip)
    }

    /// The resident set (KiB) of each of `names`, in order.
    pub fn rss(&self, names: &[String]) -> TestResult<Vec<u64>> {
        names
            .iter()
            .map(|name| {
                let proc = self
                    .stack
                    .procs
                    .iter()
                    .find(|p| &p.name == name)
                    .ok_or_else(|| format!("no process {name}"))?;
                rss_kib(proc.pid())
            })
            .collect()
    }
}

/// A log line without its terminal colours (`ESC [ … m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> TestResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| format!("no VmRSS for process {pid}"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("no figure in {line:?}"))?;
    Ok(kib.parse()?)
}

/// What a request presents to a gateway.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `name=value` of a session cookie.
    Cookie(String),
    /// A `wrn_…` API key.
    Key(String),
}

/// One kind of request, and whether it is allowed.
#[derive(Debug, Clone)]
pub struct Target {
    /// e.g. `POST as viewer (cookie)`, naming errors in the report.
    pub name: String,
    pub credential: Credential,
    pub method: Method,
    /// 2xx expected when allowed, else 403.
    pub allowed: bool,
}

impl Target {
    /// The request for the `n`-th use of this target at `gateway`.
    pub fn request(
        &self,
        client: &reqwest::Client,
        gateway: &str,
        n: usize,
    ) -> reqwest::RequestBuilder {
        let url = format!("{gateway}/doc/{}", n % PATHS);
        let request = client.request(self.method.clone(), url);
        let request = match &self.credential {
            Credential::Cookie(cookie) => request.header(reqwest::header::COOKIE, cookie),
            Credential::Key(secret) => request.bearer_auth(secret),
        };
        if self.method == Method::POST {
            request.json(&serde_json::json!({ "n": n }))
        } else {
            request
        }
    }

    /// Whether `status` is the answer expected.
    pub fn expected(&self, status: reqwest::StatusCode) -> bool {
        if self.allowed {
            status.is_success()
        } else {
            status == reqwest::StatusCode::FORBIDDEN
        }
    }
}

/// Sign the principals up (spread over the gateways) and list their
/// requests: a GET and a POST (with a small JSON body) for each, the
/// viewers' POSTs denied.
pub async fn prepare(gateways: &[String]) -> TestResult<Vec<Target>> {
    let c = client::http();
    let gw = gateways.first().ok_or("no gateway")?;
    let at = |i: usize| gateways.get(i % gateways.len()).unwrap_or(gw);
    let mut owner = sign_up(&c, gw, &client::email("soak-owner")).await?;
    let team = create_workspace(&c, gw, &owner, "Soak").await?;
    switch(&c, gw, &mut owner, &team).await?;
    let mut people = vec![("owner".to_string(), owner.cookie.clone())];
    for (i, role) in ["admin", "member", "member", "viewer", "viewer"]
        .into_iter()
        .enumerate()
    {
        let mut user = sign_up(&c, at(i + 1), &client::email("soak")).await?;
        join(&c, at(i + 1), &owner, &mut user, &team, role).await?;
        people.push((format!("{role} {}", i + 1), user.cookie.clone()));
    }
    let mut targets = Vec::new();
    for (who, cookie) in people {
        for method in [Method::GET, Method::POST] {
            targets.push(Target {
                name: format!("{method} as {who} (cookie)"),
                credential: Credential::Cookie(cookie.clone()),
                allowed: method == Method::GET || !who.starts_with("viewer"),
                method,
            });
        }
    }
    for ceiling in ["member", "viewer"] {
        let (_, secret) = create_api_key(&c, gw, &owner, &team, ceiling).await?;
        for method in [Method::GET, Method::POST] {
            targets.push(Target {
                name: format!("{method} as {ceiling} key"),
                credential: Credential::Key(secret.clone()),
                allowed: method == Method::GET || ceiling != "viewer",
                method,
            });
        }
    }
    Ok(targets)
}
