//! The billing state machine: what a Stripe subscription status means for
//! its workspace.
//!
//! ```text
//! active, trialing ──────────────▶ good       workspace active (plan set)
//! past_due ──────────────────────▶ past_due   still writable until the grace
//!                                             period ends; owners are mailed
//! unpaid, canceled, paused,
//! incomplete_expired, or grace over ─▶ lapsed  suspended: read-only
//! incomplete ────────────────────▶ (no change: the first payment is pending)
//! ```

/// Where a workspace stands with its payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Good,
    PastDue,
    Lapsed,
}

impl Standing {
    /// The standing a subscription status puts its workspace in; `None` for
    /// a status that changes nothing (`incomplete`, or one Stripe adds later).
    pub fn of(stripe_status: &str) -> Option<Standing> {
        match stripe_status {
            "active" | "trialing" => Some(Standing::Good),
            "past_due" => Some(Standing::PastDue),
            "unpaid" | "canceled" | "paused" | "incomplete_expired" => Some(Standing::Lapsed),
            _ => None,
        }
    }

    /// The name used in audit rows, webhook events and the billing view.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Good => "good",
            Standing::PastDue => "past_due",
            Standing::Lapsed => "lapsed",
        }
    }

    /// The audit action and outbound event type of a move into this standing.
    pub fn event_type(self) -> &'static str {
        match self {
            Standing::Good => "billing.paid",
            Standing::PastDue => "billing.past_due",
            Standing::Lapsed => "billing.lapsed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stripe_status_has_its_meaning() {
        let cases = [
            ("active", Some(Standing::Good)),
            ("trialing", Some(Standing::Good)),
            ("past_due", Some(Standing::PastDue)),
            ("unpaid", Some(Standing::Lapsed)),
            ("canceled", Some(Standing::Lapsed)),
            ("paused", Some(Standing::Lapsed)),
            ("incomplete_expired", Some(Standing::Lapsed)),
            ("incomplete", None),
            ("something_new", None),
        ];
        for (status, standing) in cases {
            assert_eq!(Standing::of(status), standing, "{status}");
        }
    }
}
