//! Stripe events as they arrive: the signature checked by async-stripe over
//! the raw body, then the few fields billing acts on read from the JSON.
//!
//! The fields are read from the JSON rather than from the SDK's typed model:
//! Stripe renders an event in the endpoint's API version, which need not be
//! the one the SDK was generated for, and an event we cannot model must
//! still be stored and acknowledged once its signature holds.

use serde_json::Value;
use stripe_webhook::{Webhook, WebhookError};
use wrnexus_contract::ProblemCode;

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the `Stripe-Signature` header is missing")]
    MissingSignature,
    #[error("no `v1` signature in `Stripe-Signature` matches the endpoint's signing secret")]
    BadSignature,
    #[error("the `Stripe-Signature` timestamp is more than 300 s away from now")]
    Stale,
    #[error("the body is not a Stripe event: {0}")]
    Malformed(&'static str),
}

impl EventError {
    /// The problem code answered for it.
    pub fn code(&self) -> ProblemCode {
        match self {
            EventError::MissingSignature => ProblemCode::MissingSignature,
            EventError::BadSignature => ProblemCode::InvalidSignature,
            EventError::Stale => ProblemCode::StaleSignature,
            EventError::Malformed(_) => ProblemCode::InvalidEvent,
        }
    }
}

/// Check `header` (`t=…,v1=…[,v1=…]`) against the raw `payload`: any `v1`
/// signature made with `secret` within 300 s of now passes; `v0` never does.
pub fn verify(payload: &str, header: &str, secret: &str) -> Result<(), EventError> {
    match Webhook::construct_event(payload, header, secret) {
        Ok(_) => Ok(()),
        // Only reached once signature and timestamp have passed: the SDK
        // cannot model this event, which is ours to read, not to refuse.
        Err(WebhookError::BadParse(_)) => Ok(()),
        Err(WebhookError::BadTimestamp(_)) => Err(EventError::Stale),
        Err(WebhookError::BadSignature | WebhookError::BadHeader(_) | WebhookError::BadKey) => {
            Err(EventError::BadSignature)
        }
    }
}

/// A verified event: its identity and the object it carries.
#[derive(Debug, Clone)]
pub struct StripeEvent {
    pub id: String,
    pub kind: String,
    /// When Stripe created the event (Unix seconds): the order of events.
    pub created: i64,
    pub object: Value,
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// A subscription, as billing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub item_id: Option<String>,
    pub quantity: Option<i64>,
    pub period_end: Option<i64>,
}

/// An invoice, as the owner's billing page lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: String,
    pub number: Option<String>,
    pub status: String,
    /// In the currency's smallest unit (cents).
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub created: i64,
    #[serde(skip)]
    pub subscription_id: Option<String>,
}

impl StripeEvent {
    /// Read an event whose signature has been verified.
    pub fn parse(payload: &str) -> Result<Self, EventError> {
        let v: Value =
            serde_json::from_str(payload).map_err(|_| EventError::Malformed("not JSON"))?;
        if v.get("object").and_then(Value::as_str) != Some("event") {
            return Err(EventError::Malformed("`object` is not `event`"));
        }
        let id = text(&v, "/id").ok_or(EventError::Malformed("no `id`"))?;
        let kind = text(&v, "/type").ok_or(EventError::Malformed("no `type`"))?;
        let created = int(&v, "/created").ok_or(EventError::Malformed("no `created`"))?;
        let object = v
            .pointer("/data/object")
            .cloned()
            .ok_or(EventError::Malformed("no `data.object`"))?;
        Ok(StripeEvent {
            id,
            kind,
            created,
            object,
        })
    }

    fn object_is(&self, kind: &str) -> bool {
        self.object.get("object").and_then(Value::as_str) == Some(kind)
    }

    /// The Stripe customer the event is about.
    pub fn customer_id(&self) -> Option<String> {
        if self.object_is("customer") {
            return text(&self.object, "/id");
        }
        text(&self.object, "/customer").or_else(|| text(&self.object, "/customer/id"))
    }

    /// The workspace the event names: the metadata WRNexus set on the
    /// customer or subscription, or the checkout's reference.
    pub fn workspace_hint(&self) -> Option<String> {
        [
            "/metadata/workspace_id",
            "/client_reference_id",
            "/parent/subscription_details/metadata/workspace_id",
            "/subscription_details/metadata/workspace_id",
        ]
        .iter()
        .find_map(|p| text(&self.object, p))
    }

    /// The subscription, for `customer.subscription.*` events.
    pub fn subscription(&self) -> Option<Subscription> {
        if !self.object_is("subscription") {
            return None;
        }
        let o = &self.object;
        Some(Subscription {
            id: text(o, "/id")?,
            status: text(o, "/status")?,
            item_id: text(o, "/items/data/0/id"),
            quantity: int(o, "/items/data/0/quantity").or_else(|| int(o, "/quantity")),
            period_end: int(o, "/items/data/0/current_period_end")
                .or_else(|| int(o, "/current_period_end")),
        })
    }

    /// The invoice, for `invoice.*` events.
    pub fn invoice(&self) -> Option<Invoice> {
        if !self.object_is("invoice") {
            return None;
        }
        let o = &self.object;
        Some(Invoice {
            id: text(o, "/id")?,
            number: text(o, "/number"),
            status: text(o, "/status")?,
            amount_due: int(o, "/amount_due").unwrap_or(0),
            amount_paid: int(o, "/amount_paid").unwrap_or(0),
            currency: text(o, "/currency").unwrap_or_default(),
            hosted_invoice_url: text(o, "/hosted_invoice_url"),
            period_start: int(o, "/period_start"),
            period_end: int(o, "/period_end"),
            created: int(o, "/created").unwrap_or(self.created),
            subscription_id: text(o, "/parent/subscription_details/subscription")
                .or_else(|| text(o, "/subscription")),
        })
    }

    /// The subscription a completed checkout started.
    pub fn checkout_subscription(&self) -> Option<String> {
        if !self.object_is("checkout.session") {
            return None;
        }
        text(&self.object, "/subscription").or_else(|| text(&self.object, "/subscription/id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../testkit/data/stripe/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn fields_are_read_from_stripes_event_format() {
        let e =
            StripeEvent::parse(&fixture("customer.subscription.updated.past_due.json")).unwrap();
        assert_eq!(e.kind, "customer.subscription.updated");
        assert_eq!(e.customer_id().as_deref(), Some("cus_WRNtestA"));
        assert_eq!(
            e.workspace_hint().as_deref(),
            Some("00000000-0000-4000-8000-00000000000a")
        );
        let s = e.subscription().unwrap();
        assert_eq!(
            (s.id.as_str(), s.status.as_str()),
            ("sub_WRNtestA", "past_due")
        );
        assert_eq!(s.quantity, Some(3));
        assert!(s.item_id.unwrap().starts_with("si_"));

        let e = StripeEvent::parse(&fixture("invoice.payment_failed.json")).unwrap();
        let i = e.invoice().unwrap();
        assert_eq!(i.id, "in_WRNtestA0002");
        assert_eq!(i.status, "open");
        assert_eq!(i.subscription_id.as_deref(), Some("sub_WRNtestA"));
        assert!(i.hosted_invoice_url.is_some());
        assert_eq!(
            e.workspace_hint().as_deref(),
            Some("00000000-0000-4000-8000-00000000000a")
        );

        let e = StripeEvent::parse(&fixture("checkout.session.completed.json")).unwrap();
        assert_eq!(e.checkout_subscription().as_deref(), Some("sub_WRNtestA"));
        assert_eq!(e.customer_id().as_deref(), Some("cus_WRNtestA"));
    }

    #[test]
    fn a_body_that_is_no_event_is_refused() {
        for body in ["[]", "{}", r#"{"object":"event","id":"evt_1"}"#, "not json"] {
            assert!(StripeEvent::parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn signatures_are_checked_as_stripe_makes_them() {
        let body = fixture("customer.created.json");
        let secret = "whsec_test";
        let now = chrono_now();
        let good = Webhook::generate_test_header(&body, secret, Some(now));
        assert!(verify(&body, &good, secret).is_ok());
        assert!(matches!(
            verify(&body, &good, "whsec_other"),
            Err(EventError::BadSignature)
        ));
        let tampered = body.replacen("cus_WRNtestA", "cus_WRNtestB", 1);
        assert!(matches!(
            verify(&tampered, &good, secret),
            Err(EventError::BadSignature)
        ));
        let old = Webhook::generate_test_header(&body, secret, Some(now - 301));
        assert!(matches!(
            verify(&body, &old, secret),
            Err(EventError::Stale)
        ));
        let v0_only = good.replace("v1=", "v0=");
        assert!(matches!(
            verify(&body, &v0_only, secret),
            Err(EventError::BadSignature)
        ));
    }

    fn chrono_now() -> i64 {
        crate::store::now()
    }
}
