//! The `[billing]` section and billing's secrets from the environment:
//! `WRNEXUS_STRIPE_WEBHOOK_SECRET` (unset: billing is off) and
//! `WRNEXUS_STRIPE_API_KEY`.

use crate::durations::{Ms, Secs};
use serde::Deserialize;
use std::time::Duration;
use wrnexus_control_plane::config::BillingConfig;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// Stripe's API base URL (default `https://api.stripe.com/`).
    pub stripe_api_base: Option<String>,
    /// The per-seat price Checkout subscribes a workspace to.
    pub price_id: Option<String>,
    /// The plan of a workspace whose subscription is paid (default `team`).
    pub plan: Option<String>,
    /// How long a past-due workspace stays writable (default 7 days).
    pub grace_period_secs: Option<Secs>,
    /// Where Checkout and the billing portal send the owner back to.
    pub return_url: Option<String>,
    /// The older spelling of `[mail] smtp_url` (read there, see
    /// [`crate::mail_settings`]).
    pub smtp_url: Option<String>,
    /// The older spelling of `[mail] from`.
    pub mail_from: Option<String>,
    pub poll_interval_ms: Option<Ms>,
    /// Run the billing worker in this process (default true).
    pub worker_enabled: Option<bool>,
}

fn secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The secrets, which only the environment carries.
pub fn secrets_from_env(config: &mut BillingConfig) {
    config.webhook_secret = secret("WRNEXUS_STRIPE_WEBHOOK_SECRET");
    config.api_key = secret("WRNEXUS_STRIPE_API_KEY");
}

impl BillingSettings {
    pub fn apply(&self, config: &mut BillingConfig) {
        if let Some(v) = &self.stripe_api_base {
            config.api_base = v.clone();
        }
        if let Some(v) = &self.price_id {
            config.price_id = Some(v.clone());
        }
        if let Some(v) = &self.plan {
            config.plan = v.clone();
        }
        if let Some(v) = self.grace_period_secs {
            config.grace_period = v.duration;
        }
        if let Some(v) = &self.return_url {
            config.return_url = v.clone();
        }
        if let Some(v) = self.poll_interval_ms {
            config.poll_interval = v.duration.max(Duration::from_millis(10));
        }
        if let Some(v) = self.worker_enabled {
            config.worker_enabled = v;
        }
        secrets_from_env(config);
    }
}
