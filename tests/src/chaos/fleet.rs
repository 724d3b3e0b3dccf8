//! The fleet under chaos: three gateways and two control planes on one
//! Postgres (reached through a proxy that can cut it off) and the Redis
//! under test; the demo upstream records what it receives. Gateway 1 asks
//! control plane 1, gateways 2 and 3 ask control plane 2; with one Redis
//! node, gateway 2 reaches it through a proxy that can cut it off.

use super::Shape;
use super::topology::{Kind, Redis};
use crate::TestResult;
use crate::fault_proxy::FaultProxy;
use crate::process::wait_ready;
use crate::services::fresh_postgres;
use crate::stack::Stack;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Rate limits raised: preparing principals from one loopback address is
/// not a brute-force attempt.
const CONTROL_PLANE_ENV: &[(&str, &str)] = &[
    ("WRNEXUS_CONTROL_PLANE__SIGNIN_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__ACCEPT_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__INVITE_RATE_PER_MINUTE", "1000000"),
    ("WRNEXUS_CONTROL_PLANE__ACCOUNT_RATE_PER_MINUTE", "1000000"),
];

const STARTUP: Duration = Duration::from_secs(60);

/// One gateway of the fleet.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub url: String,
    pub admin: String,
    pub proc_name: String,
}

/// One control plane of the fleet.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    pub url: String,
    pub proc_name: String,
}

/// One request the demo upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at_ms: f64,
    pub method: String,
    pub path: String,
    pub headers: serde_json::Map<String, Value>,
}

impl Received {
    /// A header's value as the app saw it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

/// The running fleet; dropping it stops every process.
pub struct Fleet {
    pub kind: Kind,
    pub stack: Stack,
    pub redis: Redis,
    pub gateways: Vec<Gateway>,
    pub control_planes: Vec<ControlPlane>,
    /// Between both control planes and Postgres.
    pub postgres: FaultProxy,
    /// Between gateway 2 and the one Redis node (one-node form only).
    pub gateway_redis: Option<FaultProxy>,
    record: PathBuf,
}

impl Fleet {
    /// Start everything; `None` when a service is absent (and not required).
    pub async fn start(dir: &Path, kind: Kind, shape: &Shape) -> TestResult<Option<Fleet>> {
        let Some(database) = fresh_postgres().await? else {
            return Ok(None);
        };
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir)?;
        let Some(redis) = Redis::start(kind, &redis_dir).await? else {
            return Ok(None);
        };
        let (target, via) = postgres_target(&database)?;
        let postgres = FaultProxy::start(target).await?;
        let database = via(postgres.port);
        let redis_url = redis.url();
        let record = dir.join("upstream.jsonl");
        let bound = shape.stale_bound_secs.to_string();
        let mut stack = Stack::split_recording(
            &database,
            &redis_url,
            &[("WRNEXUS_GATEWAY__STALE_BOUND_SECS", &bound)],
            CONTROL_PLANE_ENV,
            &record,
        )
        .await?;
        let (cp2, cp2_name) = stack
            .add_control_plane(&redis_url, CONTROL_PLANE_ENV)
            .await?;
        let gateway_redis = match redis.single_port() {
            Some(port) => Some(FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], port))).await?),
            None => None,
        };
        let gw2_redis = match &gateway_redis {
            Some(proxy) => format!("redis://127.0.0.1:{}", proxy.port),
            None => redis_url.clone(),
        };
        let first = Gateway {
            url: stack.gateway.clone(),
            admin: stack.admin.clone(),
            proc_name: proc_name(&stack.gateway)?,
        };
        let mut gateways = vec![first];
        for url in [gw2_redis, redis_url.clone()] {
            let (gw, admin) = stack.add_gateway_via(&url, &cp2).await?;
            gateways.push(Gateway {
                proc_name: proc_name(&gw)?,
                url: gw,
                admin,
            });
        }
        let control_planes = vec![
            ControlPlane {
                url: stack.control_plane.clone(),
                proc_name: "control-plane".into(),
            },
            ControlPlane {
                url: cp2,
                proc_name: cp2_name,
            },
        ];
        Ok(Some(Fleet {
            kind,
            stack,
            redis,
            gateways,
            control_planes,
            postgres,
            gateway_redis,
            record,
        }))
    }

    /// Kill the process `name`, leave it down for `down`, start it again and
    /// wait until `ready` answers.
    pub async fn bounce(&mut self, name: &str, down: Duration, ready: &str) -> TestResult {
        let proc = self
            .stack
            .proc(name)
            .ok_or_else(|| format!("no process {name}"))?;
        proc.kill();
        tokio::time::sleep(down).await;
        proc.respawn()?;
        wait_ready(ready, proc, STARTUP).await
    }

    /// Bounce control plane `i` (its health endpoint says when it is back).
    pub async fn bounce_control_plane(&mut self, i: usize, down: Duration) -> TestResult {
        let cp = self.control_planes[i].clone();
        self.bounce(&cp.proc_name, down, &format!("{}/v1/health", cp.url))
            .await
    }

    /// Bounce gateway `i` (its admin `/ready` says when it is back).
    pub async fn bounce_gateway(&mut self, i: usize, down: Duration) -> TestResult {
        let gw = self.gateways[i].clone();
        self.bounce(&gw.proc_name, down, &format!("{}/ready", gw.admin))
            .await
    }

    /// Everything the demo upstream received, in order.
    pub fn record(&self) -> TestResult<Vec<Received>> {
        let text = std::fs::read_to_string(&self.record)?;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("the upstream record holds a bad line ({e}): {line}"))?;
            let request = &v["request"];
            out.push(Received {
                at_ms: v["at_ms"].as_f64().ok_or("a record without at_ms")?,
                method: request["method"].as_str().unwrap_or("").to_string(),
                path: request["path"].as_str().unwrap_or("").to_string(),
                headers: request["headers"].as_object().cloned().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// The last lines of every process's log, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |text: String| -> String {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        let mut out: Vec<String> = self
            .stack
            .procs
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, tail(p.output())))
            .collect();
        out.push(format!("--- redis ---\n{}", tail(self.redis.logs())));
        out.join("\n")
    }
}

/// `gateway-<port>`, the process name [`Stack`] gives a gateway at `url`.
fn proc_name(url: &str) -> TestResult<String> {
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("no port in {url}"))?;
    Ok(format!("gateway-{port}"))
}

/// Where `database` (`postgres://user@host:port/name`) points, and how to
/// spell the same URL through a proxy on another loopback port.
type ViaPort = Box<dyn Fn(u16) -> String>;
fn postgres_target(database: &str) -> TestResult<(SocketAddr, ViaPort)> {
    let (scheme_user, rest) = database
        .split_once('@')
        .ok_or_else(|| format!("no `@` in the Postgres URL {database}"))?;
    let (host_port, name) = rest
        .split_once('/')
        .ok_or_else(|| format!("no database name in {database}"))?;
    let target: SocketAddr = host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .map_err(|_| format!("the Postgres URL's `{host_port}` is not an address and port"))?;
    let (scheme_user, name) = (scheme_user.to_string(), name.to_string());
    Ok((
        target,
        Box::new(move |port| format!("{scheme_user}@127.0.0.1:{port}/{name}")),
    ))
}
