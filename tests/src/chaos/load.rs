//! The principals of a chaos run and the workers sending as them: each
//! principal sends one request every interval, in turn to each gateway,
//! every third one a write, each numbered (`x-load-seq`) so that what the
//! upstream received is matched to who sent it.

use super::fleet::Received;
use super::now_ms;
use reqwest::{Client, Method};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The header numbering each request.
pub const SEQ_HEADER: &str = "x-load-seq";

/// How a principal proves who it is.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A signed-in user's session cookie (`name=value`).
    Session { user_id: String, cookie: String },
    /// An API key.
    Key { id: String, secret: String },
}

/// Someone sending requests, with the role the workspace gives them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub auth: Auth,
    pub role: String,
    pub workspace_id: String,
}

impl Principal {
    /// Whether the policies let this role do `method` (reads for every
    /// role, writes for members and up: `policies/roles.cedar`).
    pub fn may(&self, method: &str) -> bool {
        method == "GET" || self.role != "viewer"
    }

    /// Whether `r` carries this principal's identity, and nothing of its
    /// credential: `Err` says what is wrong.
    pub fn matches(&self, r: &Received) -> Result<(), String> {
        let (header, id, secret) = match &self.auth {
            Auth::Session { user_id, cookie } => ("x-user-id", user_id, cookie),
            Auth::Key { id, secret } => ("x-api-key-id", id, secret),
        };
        let want = [
            (header, id.as_str()),
            ("x-workspace-id", self.workspace_id.as_str()),
            ("x-workspace-role", self.role.as_str()),
        ];
        for (name, value) in want {
            if r.header(name) != Some(value) {
                return Err(format!(
                    "{name} is {:?}, {} is {value:?}",
                    r.header(name),
                    self.name
                ));
            }
        }
        let token = secret.split_once('=').map_or(secret.as_str(), |(_, v)| v);
        if r.headers
            .values()
            .filter_map(|v| v.as_str())
            .any(|v| v.contains(token))
        {
            return Err(format!("{}'s credential reached the app", self.name));
        }
        Ok(())
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An answer: its status, and a refusal's `code`.
    Status { status: u16, code: Option<String> },
    /// No answer (refused connection, reset, timeout).
    Transport(String),
}

impl Outcome {
    pub fn forwarded(&self) -> bool {
        matches!(self, Outcome::Status { status, .. } if (200..300).contains(status))
    }

    /// A short name for the figures: `403 forbidden`, `no answer`.
    pub fn cause(&self) -> String {
        match self {
            Outcome::Status { status, code } => {
                format!("{status} {}", code.as_deref().unwrap_or("-"))
            }
            Outcome::Transport(_) => "no answer (connection refused or timed out)".into(),
        }
    }
}

/// One request sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub seq: u64,
    pub principal: usize,
    pub gateway: usize,
    pub method: String,
    pub sent_ms: f64,
    pub done_ms: f64,
    pub outcome: Outcome,
}

/// The workers and what they sent.
#[derive(Debug, Clone)]
pub struct Load {
    client: Client,
    gateways: Arc<Vec<String>>,
    interval: Duration,
    seq: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    pub sent: Arc<Mutex<Vec<Sent>>>,
    workers: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Load {
    pub fn new(gateways: Vec<String>, interval: Duration) -> crate::TestResult<Load> {
        let client = Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Load {
            client,
            gateways: Arc::new(gateways),
            interval,
            seq: Arc::new(AtomicU64::new(1)),
            stop: Arc::new(AtomicBool::new(false)),
            sent: Arc::new(Mutex::new(Vec::new())),
            workers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Start sending as `principal` (index `index` in the run's list).
    pub fn spawn(&self, index: usize, principal: Principal) {
        let load = self.clone();
        let task = tokio::spawn(async move { load.work(index, principal).await });
        if let Ok(mut workers) = self.workers.lock() {
            workers.push(task);
        }
    }

    /// Stop every worker and wait for their last requests.
    pub async fn stop(&self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        let workers = self
            .workers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for worker in workers {
            let _ = worker.await;
        }
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    async fn work(&self, index: usize, principal: Principal) {
        let mut n: u64 = 0;
        while !self.stop.load(Ordering::SeqCst) {
            let seq = self.seq.fetch_add(1, Ordering::SeqCst);
            let gateway = (n as usize + index) % self.gateways.len();
            let method = if n % 3 == 2 {
                Method::POST
            } else {
                Method::GET
            };
            n += 1;
            let url = format!("{}/chaos/{}/{seq}", self.gateways[gateway], principal.name);
            let request = self
                .client
                .request(method.clone(), &url)
                .header(SEQ_HEADER, seq.to_string());
            let request = match &principal.auth {
                Auth::Session { cookie, .. } => request.header(reqwest::header::COOKIE, cookie),
                Auth::Key { secret, .. } => request.bearer_auth(secret),
            };
            let sent_ms = now_ms();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.bytes().await.unwrap_or_default();
                    let code = (!(200..300).contains(&status))
                        .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
                        .flatten()
                        .and_then(|v| v["code"].as_str().map(str::to_string));
                    Outcome::Status { status, code }
                }
                Err(e) => Outcome::Transport(e.to_string()),
            };
            let sent = Sent {
                seq,
                principal: index,
                gateway,
                method: method.as_str().to_string(),
                sent_ms,
                done_ms: now_ms(),
                outcome,
            };
            if let Ok(mut log) = self.sent.lock() {
                log.push(sent);
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
