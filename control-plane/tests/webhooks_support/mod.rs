//! Helpers of the webhook suite: both backends, a recording receiver, a
//! worker to start and stop, polling with a deadline, and an independent
//! Standard Webhooks verifier.

// Each suite uses some of these.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wrnexus_control_plane::config::WebhookConfig;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::webhooks::DeliveryEntry;
use wrnexus_control_plane::store::{Store, StoreError, sqlite_url};
use wrnexus_control_plane::webhook_target::parse_networks;
use wrnexus_control_plane::webhook_worker::WebhookWorker;

pub use crate::common::TestResult;

/// Run `suite` with the URL of a fresh SQLite file and of a fresh Postgres
/// database reached as the service role (the suite connects, and may
/// reconnect, itself).
pub async fn on_both<F, Fut>(suite: F) -> TestResult
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    let sqlite = sqlite_url(&dir.path().join("t.sqlite"));
    suite(sqlite).await.map_err(|e| format!("sqlite: {e}"))?;
    if let Some((_, service)) = crate::common::postgres().await? {
        suite(service).await.map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}

/// Connect; SQLite files are migrated here, Postgres was by its owner.
pub async fn connect(url: &str) -> Result<Store, StoreError> {
    if url.starts_with("sqlite:") {
        Store::connect(url, Pusher::none()).await
    } else {
        Store::connect_without_migrating(url, Pusher::none()).await
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

/// A local HTTP endpoint that records every request and answers `fail_first`
/// requests with 500, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Result<Self, std::io::Error> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let record = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let record = Arc::clone(&record);
            let failures = Arc::clone(&failures);
            async move {
                record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Received {
                        headers,
                        body,
                        at: Instant::now(),
                    });
                let fail = failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { url, seen })
    }

    pub fn seen(&self) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A fast worker that may reach the local receivers: the operator's
/// allow-list names loopback (webhooks reach public addresses only by
/// default).
pub fn quick(max_attempts: u32, backoff_secs: u64) -> WebhookConfig {
    WebhookConfig {
        allow_networks: parse_networks(&["127.0.0.0/8", "::1/128"]).unwrap_or_default(),
        poll_interval: Duration::from_millis(25),
        max_attempts,
        backoff_base: Duration::from_secs(backoff_secs),
        backoff_max: Duration::from_secs(backoff_secs * 2),
        timeout: Duration::from_secs(2),
        ..WebhookConfig::default()
    }
}

/// A running worker and the way to stop it.
pub struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    pub fn start(
        store: &Store,
        config: WebhookConfig,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = WebhookWorker::new(store.clone(), config)?.spawn(async move {
            let _ = stopped.await;
        });
        Ok(Running { stop, task })
    }

    pub async fn stop(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop.send(());
        self.task.await
    }
}

/// Poll `check` until it answers `Some`, or fail after `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The delivery log of `workspace`, once every row satisfies `done`.
pub async fn log_when(
    store: &Store,
    workspace: &str,
    secs: u64,
    done: impl Fn(&DeliveryEntry) -> bool,
) -> Result<Vec<DeliveryEntry>, String> {
    eventually("the delivery log", secs, || async {
        let log = store.webhook_deliveries(workspace, 100).await.ok()?;
        (!log.is_empty() && log.iter().all(&done)).then_some(log)
    })
    .await
}

/// Standard Webhooks verification, written here from the specification
/// rather than calling the crate's signing code.
pub fn verify_independently(secret: &str, received: &Received) -> Result<(), String> {
    let header = |name: &str| {
        received
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("missing header {name}"))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signature = header("webhook-signature")?;
    let ts: i64 = timestamp.parse().map_err(|_| "timestamp is not a number")?;
    let now = wrnexus_control_plane::store::now();
    if (now - ts).abs() > 300 {
        return Err(format!("timestamp {ts} is far from now {now}"));
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("secret prefix")?)
        .map_err(|e| e.to_string())?;
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&received.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(&signed);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    if signature.split(' ').any(|s| s == expected) {
        Ok(())
    } else {
        Err(format!("signature {signature} does not verify"))
    }
}

pub fn body_json(received: &Received) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_slice(&received.body)
}
