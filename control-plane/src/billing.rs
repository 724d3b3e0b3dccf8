//! Billing with Stripe: one customer per workspace, signed webhooks stored
//! by id and applied once and in order, the state machine that turns an
//! unpaid workspace read-only (and only that one), dunning mail to its
//! owners, and the seat count kept equal to its members.

pub mod apply;
pub mod event;
pub mod standing;
pub mod stripe_api;
pub mod worker;

/// Count a processed event by outcome.
pub(crate) fn count_processed(outcome: &str) {
    if let Some(m) = crate::metrics::metrics() {
        m.stripe_events_processed
            .with_label_values(&[outcome])
            .inc();
    }
}
