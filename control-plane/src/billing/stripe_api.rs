//! Calls to Stripe's API with async-stripe: a customer per workspace, the
//! Checkout and billing-portal sessions, and the seat count. The base URL
//! is configuration, so tests point it at a local stand-in.

use crate::config::BillingConfig;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest as _};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription_item::UpdateSubscriptionItem;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_shared::CheckoutSessionMode;

/// A failed call to Stripe.
#[derive(Debug, thiserror::Error)]
pub enum StripeApiError {
    #[error("the Stripe API is not configured: set {0}")]
    NotConfigured(&'static str),
    #[error("stripe: {0}")]
    Call(String),
}

/// A session the owner is sent to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct HostedSession {
    pub id: String,
    pub url: String,
}

/// The Stripe API client. Cloning is cheap.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
    price_id: Option<String>,
    return_url: String,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi")
            .field("price_id", &self.price_id)
            .finish_non_exhaustive()
    }
}

fn metric(call: &str, ok: bool) {
    if let Some(m) = crate::metrics::metrics() {
        let result = if ok { "ok" } else { "error" };
        m.stripe_api_calls.with_label_values(&[call, result]).inc();
    }
}

fn settle<T>(call: &str, result: Result<T, stripe::StripeError>) -> Result<T, StripeApiError> {
    metric(call, result.is_ok());
    result.map_err(|e| StripeApiError::Call(e.to_string()))
}

fn idempotent(key: &str) -> RequestStrategy {
    match IdempotencyKey::new(key) {
        Ok(key) => RequestStrategy::Idempotent(key),
        Err(_) => RequestStrategy::Once,
    }
}

impl StripeApi {
    /// The client, when an API key is configured.
    pub fn from_config(config: &BillingConfig) -> Result<Option<Self>, StripeApiError> {
        let Some(key) = config.api_key.as_deref() else {
            return Ok(None);
        };
        // Its HTTPS client asks rustls for the process's provider.
        wrnexus_backends::install_crypto_provider();
        let client = ClientBuilder::new(key)
            .url(config.api_base.clone())
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| StripeApiError::Call(e.to_string()))?;
        Ok(Some(StripeApi {
            client,
            price_id: config.price_id.clone(),
            return_url: config.return_url.clone(),
        }))
    }

    /// Create the workspace's customer. The idempotency key makes a retried
    /// or concurrent call return the same customer.
    pub async fn create_customer(
        &self,
        workspace_id: &str,
        name: &str,
        email: &str,
    ) -> Result<String, StripeApiError> {
        let metadata = HashMap::from([("workspace_id".to_string(), workspace_id.to_string())]);
        let customer = CreateCustomer::new()
            .name(name)
            .email(email)
            .metadata(metadata)
            .customize()
            .request_strategy(idempotent(&format!("wrnexus-customer-{workspace_id}")))
            .send(&self.client)
            .await;
        Ok(settle("create_customer", customer)?.id.to_string())
    }

    /// A Checkout session subscribing the workspace to the seat price, one
    /// seat per member.
    pub async fn create_checkout(
        &self,
        workspace_id: &str,
        customer_id: &str,
        seats: u64,
    ) -> Result<HostedSession, StripeApiError> {
        let price = self
            .price_id
            .clone()
            .ok_or(StripeApiError::NotConfigured("billing.price_id"))?;
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(price);
        item.quantity = Some(seats.max(1));
        let metadata = HashMap::from([("workspace_id".to_string(), workspace_id.to_string())]);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(customer_id)
            .client_reference_id(workspace_id)
            .line_items(vec![item])
            .subscription_data(subscription)
            .metadata(metadata)
            .success_url(format!("{}?billing=success", self.return_url))
            .cancel_url(format!("{}?billing=canceled", self.return_url))
            .send(&self.client)
            .await;
        let session = settle("create_checkout_session", session)?;
        Ok(HostedSession {
            id: session.id.to_string(),
            url: session.url.unwrap_or_default(),
        })
    }

    /// A billing-portal session for the customer.
    pub async fn create_portal(&self, customer_id: &str) -> Result<HostedSession, StripeApiError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(self.return_url.clone())
            .send(&self.client)
            .await;
        let session = settle("create_portal_session", session)?;
        Ok(HostedSession {
            id: session.id.to_string(),
            url: session.url,
        })
    }

    /// Set the subscription's seat count.
    pub async fn set_seats(&self, item_id: &str, seats: u64) -> Result<(), StripeApiError> {
        let updated = UpdateSubscriptionItem::new(item_id)
            .quantity(seats.max(1))
            .send(&self.client)
            .await;
        settle("update_subscription_item", updated).map(|_| ())
    }
}
