//! Billing endpoints: Stripe's webhook, and for a workspace's owners the
//! billing view (plan, seats, invoices), Checkout and the billing portal.

use super::AppState;
use super::authz::authorize;
use super::caller::Caller;
use super::error::ApiError;
use super::responses as doc;
use crate::billing::event::{EventError, Invoice, StripeEvent, verify};
use crate::billing::standing::Standing;
use crate::billing::stripe_api::{HostedSession, StripeApi, StripeApiError};
use crate::store::billing::Received;
use crate::store::outbox::rfc3339;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Action, WorkspaceStatus};

fn count(result: &str) {
    if let Some(m) = crate::metrics::metrics() {
        m.stripe_webhooks.with_label_values(&[result]).inc();
    }
}

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ProblemCode::BillingDisabled,
        "billing is off on this server: set WRNEXUS_STRIPE_WEBHOOK_SECRET to enable it",
    )
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

impl From<StripeApiError> for ApiError {
    fn from(e: StripeApiError) -> Self {
        match e {
            StripeApiError::NotConfigured(setting) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ProblemCode::StripeNotConfigured,
                format!("the Stripe API is not configured on this server: set {setting}"),
            ),
            StripeApiError::Call(detail) => {
                tracing::warn!(error = %detail, "a Stripe API call failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ProblemCode::StripeUnavailable,
                    "Stripe could not be reached or refused the request; try again",
                )
            }
        }
    }
}

/// The acknowledgement Stripe receives.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookAck {
    received: bool,
    id: String,
    /// The event was stored before: no second effect.
    duplicate: bool,
}

/// Receive a Stripe event: verified over the raw body, stored by id, then
/// applied. A redelivery is acknowledged with no second effect.
#[utoipa::path(
    post,
    path = "/billing/stripe/webhook",
    tag = "billing",
    operation_id = "stripe_webhook",
    request_body(content = String, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it"),
    params(("Stripe-Signature" = String, Header, description = "`t=…,v1=…`")),
    responses(
        (status = 200, description = "Stored (or stored before)", body = WebhookAck),
        (status = 400, response = doc::BadRequest),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAck>, ApiError> {
    let billing = &state.config.billing;
    let Some(secret) = billing.webhook_secret.as_deref() else {
        count("disabled");
        return Err(disabled());
    };
    let checked = (|| {
        let header = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(EventError::MissingSignature)?;
        let payload = std::str::from_utf8(&body).map_err(|_| EventError::Malformed("not UTF-8"))?;
        verify(payload, header, secret)?;
        Ok::<_, EventError>((payload, StripeEvent::parse(payload)?))
    })();
    let (payload, event) = checked.inspect_err(|e| {
        count(e.code().as_str());
        tracing::warn!(reason = e.code().as_str(), "stripe webhook refused");
    })?;
    let received = state
        .store
        .receive_stripe_event(&event, payload)
        .await
        .inspect_err(|_| count("error"))?;
    let duplicate = received == Received::Duplicate;
    count(if duplicate { "duplicate" } else { "accepted" });
    if !duplicate {
        // Stored: from here the event is safe. If applying it fails now,
        // the billing worker applies it later.
        match state.store.process_stripe_event(&event.id, billing).await {
            Ok(outcome) => {
                crate::billing::count_processed(outcome.as_str());
                tracing::info!(event_id = %event.id, kind = %event.kind,
                    outcome = outcome.as_str(), "stripe event");
            }
            Err(e) => {
                crate::billing::count_processed("error");
                tracing::warn!(event_id = %event.id, error = %e,
                    "applying a stored stripe event failed; the worker retries it");
                if let Err(e) = state
                    .store
                    .stripe_event_failed(&event.id, &e.to_string())
                    .await
                {
                    tracing::warn!(error = %e, "recording the failure failed too");
                }
            }
        }
    }
    Ok(Json(WebhookAck {
        received: true,
        id: event.id,
        duplicate,
    }))
}

/// The subscription, as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    id: Option<String>,
    /// Stripe's status: `active`, `past_due`, `unpaid`, `canceled`, ….
    status: Option<String>,
    /// `good`, `past_due` or `lapsed`.
    standing: Option<&'static str>,
    period_end: Option<String>,
    /// While past due: when the workspace turns read-only.
    grace_until: Option<String>,
}

/// Seats: one per member, pushed to the subscription.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Seats {
    members: i64,
    /// The quantity on the Stripe subscription.
    subscribed: Option<i64>,
}

/// A workspace's billing, for its owners.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BillingView {
    workspace_id: String,
    plan: String,
    status: WorkspaceStatus,
    billing_enabled: bool,
    /// Why billing actions are unavailable, when they are.
    notice: Option<String>,
    subscription: Option<SubscriptionView>,
    seats: Seats,
    invoices: Vec<Invoice>,
}

/// Plan, seats, subscription and invoices of a workspace (owners only).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/billing",
    tag = "billing",
    operation_id = "get_billing",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The workspace's billing", body = BillingView),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BillingView>, ApiError> {
    authorize(&state, &caller, &id, None, Action::BILLING, "/billing").await?;
    let workspace = state
        .store
        .workspace(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let account = state.store.billing_account(&id).await?;
    let enabled = state.config.billing.enabled();
    Ok(Json(BillingView {
        workspace_id: id.clone(),
        plan: workspace.plan,
        status: workspace.status,
        billing_enabled: enabled,
        notice: (!enabled).then(|| disabled().detail),
        subscription: account.as_ref().map(|a| SubscriptionView {
            id: a.subscription_id.clone(),
            status: a.subscription_status.clone(),
            standing: a
                .subscription_status
                .as_deref()
                .and_then(Standing::of)
                .map(Standing::as_str),
            period_end: a.period_end.map(rfc3339),
            grace_until: a.grace_until.map(rfc3339),
        }),
        seats: Seats {
            members: state.store.member_count(&id).await?,
            subscribed: account.as_ref().and_then(|a| a.quantity),
        },
        invoices: state.store.invoices(&id).await?,
    }))
}

/// An owner's billing action on `id`: authorized, and the Stripe client
/// (or why billing actions are unavailable).
async fn owner_action<'s>(
    state: &'s AppState,
    caller: &Caller,
    id: &str,
    path: &str,
) -> Result<&'s StripeApi, ApiError> {
    authorize(state, caller, id, None, Action::BILLING, path).await?;
    if !state.config.billing.enabled() {
        return Err(disabled());
    }
    state
        .stripe
        .as_ref()
        .ok_or(StripeApiError::NotConfigured("WRNEXUS_STRIPE_API_KEY").into())
}

/// A hosted Stripe page to send the owner to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionBody {
    session: HostedSession,
}

/// Start a subscription: a Stripe Checkout session for one seat per member
/// (owners only). The workspace's Stripe customer is created on first use.
#[utoipa::path(
    post,
    path = "/workspaces/{id}/billing/checkout",
    tag = "billing",
    operation_id = "start_checkout",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Send the owner to `session.url`", body = SessionBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SessionBody>), ApiError> {
    let stripe = owner_action(&state, &caller, &id, "/billing/checkout").await?;
    let workspace = state
        .store
        .workspace(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let account = state.store.billing_account(&id).await?;
    let subscribed = account
        .as_ref()
        .and_then(|a| a.subscription_status.as_deref())
        .and_then(Standing::of)
        .is_some_and(|s| s != Standing::Lapsed);
    if subscribed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::AlreadySubscribed,
            "the workspace already has a subscription: manage it in the billing portal",
        ));
    }
    let seats = state.store.member_count(&id).await?;
    let customer = match account {
        Some(a) => a.customer_id,
        None => {
            let email = state
                .store
                .owner_emails(&id)
                .await?
                .into_iter()
                .next()
                .unwrap_or_default();
            let customer = stripe.create_customer(&id, &workspace.name, &email).await?;
            state
                .store
                .bind_customer(&id, &customer, seats, caller.meta())
                .await?
        }
    };
    let session = stripe
        .create_checkout(&id, &customer, u64::try_from(seats).unwrap_or(1))
        .await?;
    state
        .store
        .audit_billing(&id, "billing.checkout_started", &session.id, caller.meta())
        .await?;
    Ok((StatusCode::CREATED, Json(SessionBody { session })))
}

/// A Stripe billing-portal session: payment methods, invoices, cancelling
/// (owners only).
#[utoipa::path(
    post,
    path = "/workspaces/{id}/billing/portal",
    tag = "billing",
    operation_id = "open_billing_portal",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Send the owner to `session.url`", body = SessionBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn portal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SessionBody>), ApiError> {
    let stripe = owner_action(&state, &caller, &id, "/billing/portal").await?;
    let Some(account) = state.store.billing_account(&id).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::NoBillingAccount,
            "the workspace has no Stripe customer yet: start a subscription with checkout first",
        ));
    };
    let session = stripe.create_portal(&account.customer_id).await?;
    Ok((StatusCode::CREATED, Json(SessionBody { session })))
}
