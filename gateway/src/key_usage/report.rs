//! Reporting recorded API key use ([`crate::key_usage::record`]) to the control
//! plane: `POST /v1/internal/key-usage` with the gateway token
//! (`WRNEXUS_GATEWAY_TOKEN`) as a Bearer, every `key_usage_flush`, and once
//! more when the gateway stops. A report that fails is put back and tried
//! again at the next flush, within the recorder's bounds. The sessions
//! served, with the latest time of each, travel in the same reports.

use crate::config::GatewayToken;
use crate::key_usage::record::{KeyUsage, Refusal, SessionSeen, Used};
use crate::ops::metrics::Metrics;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where reports go, under the control plane's base URL.
pub const REPORT_PATH: &str = "/v1/internal/key-usage";
/// Most key uses in one report (the control plane's limit too).
pub const MAX_USED_PER_REPORT: usize = 1000;
/// Most sessions in one report (the control plane's limit too).
pub const MAX_SESSIONS_PER_REPORT: usize = 1000;

#[derive(Serialize)]
struct Report<'a> {
    used: &'a [Used],
    refused: &'a [Refusal],
    sessions: &'a [SessionSeen],
}

/// What the control plane did with a report.
#[derive(Debug, Deserialize)]
struct Applied {
    #[serde(default)]
    updated: u64,
    #[serde(default)]
    audited: u64,
    #[serde(default)]
    unknown_keys: u64,
    #[serde(default)]
    sessions_seen: u64,
}

/// Sends the recorder's batches.
#[derive(Debug)]
pub struct Reporter {
    http: reqwest::Client,
    url: String,
    token: GatewayToken,
    usage: Arc<KeyUsage>,
    metrics: Metrics,
    /// Whether the last report failed (to log a failing streak once).
    failing: AtomicBool,
}

impl Reporter {
    pub fn new(
        http: reqwest::Client,
        control_plane_url: &str,
        token: GatewayToken,
        usage: Arc<KeyUsage>,
        metrics: Metrics,
    ) -> Self {
        Reporter {
            http,
            url: format!("{}{REPORT_PATH}", control_plane_url.trim_end_matches('/')),
            token,
            usage,
            metrics,
            failing: AtomicBool::new(false),
        }
    }

    /// Flush every `every` until the runtime stops.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.flush().await;
        }
    }

    /// Send everything recorded so far.
    pub async fn flush(&self) {
        let batch = self.usage.take();
        let lost = [
            ("queue_full", batch.dropped),
            ("malformed", batch.unattributable),
        ];
        for (reason, n) in lost {
            if n > 0 {
                self.metrics
                    .key_usage_dropped
                    .with_label_values(&[reason])
                    .inc_by(n);
            }
        }
        if batch.dropped > 0 || batch.unattributable > 0 {
            tracing::warn!(
                queue_full = batch.dropped,
                malformed = batch.unattributable,
                "refused API keys not reported to the control plane"
            );
        }
        let mut used = batch.used;
        let mut refused = batch.refused;
        let mut sessions = batch.sessions;
        while !used.is_empty() || !refused.is_empty() || !sessions.is_empty() {
            let rest = used.split_off(used.len().min(MAX_USED_PER_REPORT));
            let chunk = std::mem::replace(&mut used, rest);
            let refusals = std::mem::take(&mut refused);
            let rest = sessions.split_off(sessions.len().min(MAX_SESSIONS_PER_REPORT));
            let seen = std::mem::replace(&mut sessions, rest);
            if let Err(why) = self.send(&chunk, &refusals, &seen).await {
                self.metrics
                    .key_usage_reports
                    .with_label_values(&["failed"])
                    .inc();
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %why, "reporting API key use failed; retrying at the next flush");
                }
                let mut unsent = chunk;
                unsent.append(&mut used);
                let mut unseen = seen;
                unseen.append(&mut sessions);
                self.usage.restore(unsent, refusals, unseen);
                return;
            }
            self.metrics
                .key_usage_reports
                .with_label_values(&["sent"])
                .inc();
            if self.failing.swap(false, Ordering::Relaxed) {
                tracing::info!("reporting API key use works again");
            }
        }
    }

    async fn send(
        &self,
        used: &[Used],
        refused: &[Refusal],
        sessions: &[SessionSeen],
    ) -> Result<(), String> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose())
            .json(&Report {
                used,
                refused,
                sessions,
            })
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("the control plane answered {status}: {body}"));
        }
        let applied: Applied = response.json().await.map_err(|e| e.to_string())?;
        tracing::debug!(
            updated = applied.updated,
            audited = applied.audited,
            unknown_keys = applied.unknown_keys,
            sessions_seen = applied.sessions_seen,
            "API key use reported"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_prints() {
        let token = GatewayToken::generate();
        assert_eq!(token.expose().len(), 64);
        assert_ne!(token, GatewayToken::generate());
        assert!(!format!("{token:?}").contains(token.expose()));
        assert_eq!(GatewayToken::new("  "), None);
        assert_eq!(
            GatewayToken::new(" s3cret ").map(|t| t.expose().to_string()),
            Some("s3cret".to_string())
        );
    }
}
