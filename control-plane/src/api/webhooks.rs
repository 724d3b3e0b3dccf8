//! Webhook endpoints of a workspace and their delivery log (admins only).

use super::AppState;
use super::authz::authorize;
use super::caller::Caller;
use super::error::ApiError;
use super::input::Input;
use super::responses as doc;
use crate::store::webhooks::{CreatedEndpoint, DeliveryEntry, Endpoint};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::Action;

/// Default and largest page of the delivery log.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewEndpoint {
    url: Option<String>,
    /// A JSON array of event types, or (from a form) a comma-separated list.
    event_types: Option<Value>,
    description: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// 1 to 200; default 50.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

/// Webhook endpoints of a workspace, never with their secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Endpoint>,
}

/// A new endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    pub webhook: CreatedEndpoint,
}

/// The test event queued for delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestEventQueued {
    pub event_id: String,
}

/// The newest deliveries of a workspace's webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryEntry>,
}

fn event_types(value: Option<Value>) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::field(
            ProblemCode::InvalidEventTypes,
            "event_types",
            "`event_types` must be a list of event type names, or `*`",
        )
    };
    match value.ok_or_else(|| ApiError::missing("event_types"))? {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Webhook endpoints of a workspace (admins).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The endpoints, without secrets", body = WebhookList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookList>, ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/webhooks").await?;
    let webhooks = state.store.webhook_endpoints(&id).await?;
    Ok(Json(WebhookList { webhooks }))
}

/// Add a webhook endpoint (admins).
#[utoipa::path(
    post,
    path = "/workspaces/{id}/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((NewEndpoint = "application/json"), (NewEndpoint = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The endpoint and its signing secret, shown once", body = WebhookCreated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<NewEndpoint>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/webhooks").await?;
    let url = input.value.url.ok_or_else(|| ApiError::missing("url"))?;
    let types = event_types(input.value.event_types)?;
    let description = input.value.description.unwrap_or_default();
    // Loopback, private, metadata… targets are refused before anything is
    // written (and checked again at every delivery).
    crate::webhook_resolve::check_new_target(&url, &state.config.webhooks.target_policy()).await?;
    let webhook = state
        .store
        .create_webhook_endpoint(&id, &url, &types, &description, caller.meta())
        .await?;
    // The only answer that ever carries the secret.
    Ok((StatusCode::CREATED, Json(WebhookCreated { webhook })))
}

/// Remove a webhook endpoint (admins).
#[utoipa::path(
    delete,
    path = "/workspaces/{id}/webhooks/{endpoint_id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = String, Path, description = "Workspace id"), ("endpoint_id" = String, Path, description = "Endpoint id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, endpoint_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/webhooks").await?;
    state
        .store
        .delete_webhook_endpoint(&id, &endpoint_id, caller.meta())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue a test event for one endpoint (admins).
#[utoipa::path(
    post,
    path = "/workspaces/{id}/webhooks/{endpoint_id}/test",
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = String, Path, description = "Workspace id"), ("endpoint_id" = String, Path, description = "Endpoint id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "Queued", body = TestEventQueued),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, endpoint_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<TestEventQueued>), ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/webhooks").await?;
    let event_id = state
        .store
        .send_test_event(&id, &endpoint_id, caller.meta())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TestEventQueued { event_id })))
}

/// The newest deliveries of a workspace's webhooks (admins).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/webhooks/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, description = "Workspace id"), LogQuery),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The delivery log", body = DeliveryList),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    authorize(&state, &caller, &id, None, Action::ADMIN, "/webhooks").await?;
    let limit = super::audit::limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let deliveries = state.store.webhook_deliveries(&id, limit).await?;
    Ok(Json(DeliveryList { deliveries }))
}
