//! Stripe for tests: its webhook signing (HMAC-SHA256 over `t.body`, as
//! Stripe does it), the event fixtures in `data/stripe/`, and a stand-in
//! for the API that answers in Stripe's object format and records calls.

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The fixtures' workspace, customer and subscription of customer A and B.
pub const WORKSPACE_A: &str = "00000000-0000-4000-8000-00000000000a";
pub const WORKSPACE_B: &str = "00000000-0000-4000-8000-00000000000b";
pub const CUSTOMER_A: &str = "cus_WRNtestA";
pub const CUSTOMER_B: &str = "cus_WRNtestB";

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `v1` signature of `payload` at `t` with `secret` (the whole
/// `whsec_…` string, as Stripe keys it).
pub fn v1(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{t}.{payload}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A `Stripe-Signature` header made now with `secret`.
pub fn sign(payload: &str, secret: &str) -> String {
    let t = now();
    format!("t={t},v1={}", v1(payload, secret, t))
}

/// An event fixture, byte for byte.
pub fn fixture(name: &str) -> Result<String, crate::Error> {
    let path = format!("{}/data/stripe/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}").into())
}

/// A fixture with each `(from, to)` replaced: the fixtures' ids become the
/// test's own workspace and customer ids, before signing.
pub fn event(name: &str, replace: &[(&str, &str)]) -> Result<String, crate::Error> {
    let mut text = fixture(name)?;
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    Ok(text)
}

/// One call the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    /// The form fields, in order (`metadata[workspace_id]`, `line_items[0][quantity]`, …).
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
}

impl Call {
    /// The first value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Recorded {
    calls: Vec<Call>,
    /// Customers created, by idempotency key: a repeat returns the same one.
    customers: Vec<(Option<String>, String)>,
}

/// A local stand-in for `https://api.stripe.com/`.
#[derive(Clone)]
pub struct StripeStandIn {
    pub url: String,
    recorded: Arc<Mutex<Recorded>>,
}

type Shared = Arc<Mutex<Recorded>>;

fn object(fixture_name: &str) -> Value {
    fixture(fixture_name)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.pointer("/data/object").cloned())
        .unwrap_or(Value::Null)
}

fn record(
    shared: &Shared,
    path: String,
    headers: &axum::http::HeaderMap,
    form: Vec<(String, String)>,
) -> Call {
    let call = Call {
        path,
        form,
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    if let Ok(mut r) = shared.lock() {
        r.calls.push(call.clone());
    }
    call
}

async fn customers(
    State(shared): State<Shared>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let call = record(&shared, "/v1/customers".into(), &headers, form);
    let id = {
        let mut r = shared.lock().unwrap_or_else(|p| p.into_inner());
        let known = r
            .customers
            .iter()
            .find(|(k, _)| k.is_some() && *k == call.idempotency_key)
            .map(|(_, id)| id.clone());
        known.unwrap_or_else(|| {
            let id = format!("cus_standin{}", r.customers.len() + 1);
            r.customers.push((call.idempotency_key.clone(), id.clone()));
            id
        })
    };
    let mut customer = object("customer.created.json");
    customer["id"] = json!(id);
    customer["email"] = json!(call.field("email"));
    customer["name"] = json!(call.field("name"));
    customer["metadata"] = json!({ "workspace_id": call.field("metadata[workspace_id]") });
    axum::Json(customer)
}

async fn checkout(
    State(shared): State<Shared>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let call = record(&shared, "/v1/checkout/sessions".into(), &headers, form);
    let n = shared.lock().map(|r| r.calls.len()).unwrap_or(0);
    let id = format!("cs_test_standin{n}");
    let mut session = object("checkout.session.completed.json");
    session["id"] = json!(id);
    session["url"] = json!(format!("https://checkout.stripe.test/c/pay/{id}"));
    session["status"] = json!("open");
    session["payment_status"] = json!("unpaid");
    session["customer"] = json!(call.field("customer"));
    session["client_reference_id"] = json!(call.field("client_reference_id"));
    session["subscription"] = Value::Null;
    session["invoice"] = Value::Null;
    axum::Json(session)
}

async fn portal(
    State(shared): State<Shared>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let call = record(
        &shared,
        "/v1/billing_portal/sessions".into(),
        &headers,
        form,
    );
    axum::Json(json!({
        "id": "bps_standin",
        "object": "billing_portal.session",
        "configuration": "bpc_standin",
        "created": now(),
        "customer": call.field("customer"),
        "livemode": false,
        "return_url": call.field("return_url"),
        "url": "https://billing.stripe.test/p/session/bps_standin",
    }))
}

async fn subscription_item(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let call = record(
        &shared,
        format!("/v1/subscription_items/{id}"),
        &headers,
        form,
    );
    let mut item = object("customer.subscription.created.json")
        .pointer("/items/data/0")
        .cloned()
        .unwrap_or(Value::Null);
    item["id"] = json!(id);
    if let Some(q) = call.field("quantity").and_then(|q| q.parse::<u64>().ok()) {
        item["quantity"] = json!(q);
    }
    axum::Json(item)
}

impl StripeStandIn {
    pub async fn start() -> Result<Self, crate::Error> {
        let recorded: Shared = Arc::default();
        let app = Router::new()
            .route("/v1/customers", post(customers))
            .route("/v1/checkout/sessions", post(checkout))
            .route("/v1/billing_portal/sessions", post(portal))
            .route("/v1/subscription_items/{id}", post(subscription_item))
            .with_state(Arc::clone(&recorded));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(StripeStandIn { url, recorded })
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.recorded
            .lock()
            .map(|r| r.calls.clone())
            .unwrap_or_default()
    }

    /// The calls to `path`.
    pub fn calls_to(&self, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_an_independent_hmac() {
        // Python: hmac.new(b"whsec_test_secret", b"1492774577.payload", sha256).hexdigest()
        assert_eq!(
            v1("payload", "whsec_test_secret", 1_492_774_577),
            "2059ffb56ef4b3ec3b27a8c7b885e903144a6d596884ab2d92cd4bb23c020c07"
        );
        assert_ne!(
            v1("payload", "whsec_test_secret", 1_492_774_577),
            v1("payload", "whsec_test_secret", 1_492_774_578)
        );
    }
}
