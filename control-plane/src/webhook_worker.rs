//! The webhook delivery worker: polls the outbox for due deliveries, POSTs
//! each stored payload signed per Standard Webhooks, and settles it as
//! delivered, retried later with exponential backoff, or dead. Every
//! request's target is checked against the allowed networks as it connects
//! (see `webhook_resolve`); redirects are never followed, proxies never used.

use crate::config::WebhookConfig;
use crate::store::deliveries::{Attempt, DueDelivery};
use crate::store::{Store, StoreError, now};
use crate::webhook_resolve::{CheckedResolver, forbidden_in, literal_host};
use crate::webhook_signing;
use crate::webhook_target::TargetPolicy;
use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};

/// Longest `last_error` kept, in characters.
const MAX_ERROR: usize = 300;
/// How long a claim outlives the request timeout, in seconds.
const LEASE_MARGIN_SECS: i64 = 30;

/// The worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("webhook http client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Delivers the outbox. Cloning is cheap.
#[derive(Clone)]
pub struct WebhookWorker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: WebhookConfig,
    policy: Arc<TargetPolicy>,
    client: reqwest::Client,
}

impl std::fmt::Debug for WebhookWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWorker")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The wait before attempt `attempt + 1`, after `attempt` (≥ 1) failures,
/// without jitter: `base · 2^(attempt-1)`, at most `max`.
pub fn backoff(config: &WebhookConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(31);
    config
        .backoff_base
        .checked_mul(1u32 << exponent)
        .unwrap_or(config.backoff_max)
        .min(config.backoff_max)
}

/// `delay` plus up to a tenth of it at random, so retries of many
/// deliveries spread out; never shorter than `delay`.
fn with_jitter(delay: Duration) -> Duration {
    let tenth = u64::try_from(delay.as_millis() / 10).unwrap_or(u64::MAX);
    if tenth == 0 {
        return delay;
    }
    delay.saturating_add(Duration::from_millis(
        rand::thread_rng().gen_range(0..=tenth),
    ))
}

/// Whole seconds, rounded up (the outbox keeps Unix seconds).
fn ceil_secs(d: Duration) -> i64 {
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    secs.saturating_add(i64::from(d.subsec_nanos() > 0))
}

fn truncate(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_ERROR) {
        s.truncate(i);
    }
    s
}

/// Why a request failed, without the URL (it may carry credentials).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if let Some(forbidden) = forbidden_in(e) {
        forbidden.to_string()
    } else if e.is_timeout() {
        format!("timed out after {}s", timeout.as_secs_f32())
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

impl WebhookWorker {
    pub fn new(store: Store, config: WebhookConfig) -> Result<Self, WorkerError> {
        let policy = Arc::new(config.target_policy());
        // Names resolve through the checking resolver, so the addresses
        // checked are the ones connected to. No redirects (a 3xx is a
        // failed delivery) and no proxy (it would resolve names itself).
        wrnexus_backends::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(CheckedResolver::new(Arc::clone(&policy)))
            .user_agent(concat!("WRNexus-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookWorker {
            inner: Arc::new(Inner {
                store,
                config,
                policy,
                client,
            }),
        })
    }

    /// Run on the current runtime until `shutdown` resolves. A batch in
    /// flight is finished (bounded by the request timeout) before stopping.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tokio::pin!(shutdown);
        tracing::info!(config = ?self.inner.config, "webhook worker started");
        loop {
            let full = match self.run_once().await {
                Ok(n) => n >= self.batch_size(),
                Err(e) => {
                    tracing::warn!(error = %e, "webhook worker: claiming deliveries failed");
                    false
                }
            };
            let pause = if full {
                Duration::ZERO
            } else {
                self.inner.config.poll_interval
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!("webhook worker stopped");
    }

    fn batch_size(&self) -> usize {
        usize::try_from(self.inner.config.batch_size.max(1)).unwrap_or(1)
    }

    /// Claim one batch of due deliveries and attempt each (concurrently).
    /// Returns how many were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let lease = ceil_secs(self.inner.config.timeout).saturating_add(LEASE_MARGIN_SECS);
        let due = self
            .inner
            .store
            .claim_due_deliveries(i64::from(self.inner.config.batch_size.max(1)), lease)
            .await?;
        let claimed = due.len();
        let mut tasks = JoinSet::new();
        for delivery in due {
            let inner = Arc::clone(&self.inner);
            tasks.spawn(async move { inner.attempt(delivery).await });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "webhook delivery task failed");
            }
        }
        Ok(claimed)
    }
}

impl Inner {
    /// Send one delivery and record how it went.
    async fn attempt(&self, delivery: DueDelivery) {
        let attempt = u32::try_from(delivery.attempts.saturating_add(1)).unwrap_or(u32::MAX);
        let outcome = self.send(&delivery).await;
        let outcome = match outcome {
            Ok(status) => Attempt::Delivered { status },
            Err((status, error)) => {
                let retry_at = (attempt < self.config.max_attempts).then(|| {
                    now().saturating_add(ceil_secs(with_jitter(backoff(&self.config, attempt))))
                });
                Attempt::Failed {
                    status,
                    error: truncate(error),
                    retry_at,
                }
            }
        };
        if let Some(m) = crate::metrics::metrics() {
            let result = match &outcome {
                Attempt::Delivered { .. } => "delivered",
                Attempt::Failed { retry_at: None, .. } => "dead",
                Attempt::Failed { .. } => "failed",
            };
            m.webhook_deliveries.with_label_values(&[result]).inc();
        }
        match &outcome {
            Attempt::Delivered { status } => tracing::info!(
                delivery_id = %delivery.id,
                event_id = %delivery.event_id,
                endpoint_id = %delivery.endpoint_id,
                workspace_id = %delivery.workspace_id,
                attempt,
                status,
                "webhook delivered"
            ),
            Attempt::Failed {
                status,
                error,
                retry_at,
            } => tracing::warn!(
                delivery_id = %delivery.id,
                event_id = %delivery.event_id,
                endpoint_id = %delivery.endpoint_id,
                workspace_id = %delivery.workspace_id,
                attempt,
                status = ?status,
                error = %error,
                retry_at = ?retry_at,
                dead = retry_at.is_none(),
                "webhook delivery failed"
            ),
        }
        if let Err(e) = self.store.settle_delivery(&delivery, &outcome).await {
            // The lease runs out and the delivery is tried again.
            tracing::error!(delivery_id = %delivery.id, error = %e, "recording a webhook attempt failed");
        }
    }

    /// POST the payload; `Ok(status)` on 2xx, else the status (if any) and why.
    async fn send(&self, delivery: &DueDelivery) -> Result<u16, (Option<u16>, String)> {
        // A literal address never reaches the resolver: check it here.
        if let Some(ip) = reqwest::Url::parse(&delivery.url)
            .ok()
            .as_ref()
            .and_then(literal_host)
        {
            self.policy
                .check(None, ip)
                .map_err(|e| (None, e.to_string()))?;
        }
        let body = delivery.payload.as_bytes();
        let headers = webhook_signing::headers(&delivery.secret, &delivery.event_id, now(), body)
            .map_err(|e| (None, e.to_string()))?;
        let mut request = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| (None, describe(&e, self.config.timeout)))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err((Some(status.as_u16()), format!("endpoint answered {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: u64, max: u64) -> WebhookConfig {
        WebhookConfig {
            backoff_base: Duration::from_secs(base),
            backoff_max: Duration::from_secs(max),
            ..WebhookConfig::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = config(5, 3600);
        let waits: Vec<u64> = (1..=12).map(|a| backoff(&c, a).as_secs()).collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff(&c, u32::MAX), Duration::from_secs(3600));
        assert_eq!(backoff(&c, 0), Duration::from_secs(5));
    }

    #[test]
    fn jitter_only_lengthens_by_a_tenth_at_most() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(10) && d <= Duration::from_secs(11),
                "{d:?}"
            );
        }
        assert_eq!(with_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }

    #[test]
    fn errors_are_truncated() {
        assert_eq!(truncate("é".repeat(400)).chars().count(), MAX_ERROR);
        assert_eq!(truncate("short".into()), "short");
    }
}
