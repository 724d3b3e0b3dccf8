//! The billing worker: finishes Stripe events whose processing was cut
//! short, suspends past-due workspaces whose grace period is over, pushes
//! seat counts to Stripe when membership changes. (The dunning mail it
//! queues is sent by the mail worker, [`crate::mail::worker`].)

use super::apply::expire_grace;
use super::stripe_api::StripeApi;
use crate::config::BillingConfig;
use crate::store::{Store, StoreError, now};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Events younger than this are left to the request that stored them (a
/// concurrent run would only wait on the claim and find the work done).
const INLINE_GRACE_SECS: i64 = 1;

/// Runs billing's background work. One per control plane; several control
/// planes share the work safely (claims and leases in the database).
pub struct BillingWorker {
    store: Store,
    config: BillingConfig,
    stripe: Option<StripeApi>,
    /// Seat pushes that failed, not to be retried before the instant.
    seat_backoff: HashMap<String, (Instant, u32)>,
}

/// The wait after `attempt` failures: 30 s doubling, at most an hour.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << attempt.saturating_sub(1).min(7)))
        .min(Duration::from_secs(3600))
}

impl BillingWorker {
    pub fn new(store: Store, config: BillingConfig, stripe: Option<StripeApi>) -> Self {
        BillingWorker {
            store,
            config,
            stripe,
            seat_backoff: HashMap::new(),
        }
    }

    /// Run on the current runtime until `shutdown` resolves.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    async fn run(mut self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tokio::pin!(shutdown);
        tracing::info!(config = ?self.config, "billing worker started");
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "billing worker: a pass failed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("billing worker stopped");
    }

    /// One pass over everything due.
    pub async fn run_once(&mut self) -> Result<(), StoreError> {
        if !self.config.enabled() {
            return Ok(());
        }
        self.finish_events().await?;
        for workspace_id in self.store.grace_expired(now()).await? {
            if expire_grace(&self.store, &workspace_id).await? {
                tracing::info!(%workspace_id, "grace period over: workspace suspended");
            }
        }
        self.push_seats().await
    }

    async fn finish_events(&self) -> Result<(), StoreError> {
        let due = self
            .store
            .unprocessed_stripe_events(now() - INLINE_GRACE_SECS, 100)
            .await?;
        for id in due {
            match self.store.process_stripe_event(&id, &self.config).await {
                Ok(outcome) => super::count_processed(outcome.as_str()),
                Err(e) => {
                    super::count_processed("error");
                    tracing::warn!(event_id = %id, error = %e, "stripe event still failing");
                    self.store.stripe_event_failed(&id, &e.to_string()).await?;
                }
            }
        }
        Ok(())
    }

    async fn push_seats(&mut self) -> Result<(), StoreError> {
        let Some(stripe) = &self.stripe else {
            return Ok(());
        };
        for (workspace_id, item, members) in self.store.seats_to_push().await? {
            let attempts = match self.seat_backoff.get(&workspace_id) {
                Some((until, _)) if Instant::now() < *until => continue,
                Some((_, attempts)) => *attempts,
                None => 0,
            };
            let seats = u64::try_from(members).unwrap_or(1);
            match stripe.set_seats(&item, seats).await {
                Ok(()) => {
                    self.seat_backoff.remove(&workspace_id);
                    self.store.seats_pushed(&workspace_id, members).await?;
                    tracing::info!(%workspace_id, seats, "seat count pushed to Stripe");
                }
                Err(e) => {
                    let attempts = attempts.saturating_add(1);
                    let until = Instant::now() + retry_delay(attempts);
                    self.seat_backoff
                        .insert(workspace_id.clone(), (until, attempts));
                    tracing::warn!(%workspace_id, error = %e, "pushing the seat count failed");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(30));
        assert_eq!(retry_delay(2), Duration::from_secs(60));
        assert_eq!(retry_delay(9), Duration::from_secs(3600));
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(3600));
    }
}
