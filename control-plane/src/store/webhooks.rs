//! Webhook endpoints and their delivery log: what a workspace admin creates,
//! lists, deletes and tests. The worker's queries are in `deliveries`.

use super::audit::{AuditRecord, Meta};
use super::outbox::EVENT_TYPES;
use super::work::Scope;
use super::{Store, StoreError, now};
use crate::webhook_signing::new_secret;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use wrnexus_contract::ProblemCode;

/// Longest endpoint URL, in bytes.
pub const MAX_URL: usize = 2048;
/// Longest endpoint description, in characters.
pub const MAX_DESCRIPTION: usize = 500;
/// What `last_error` says of deliveries stopped by deleting their endpoint.
pub const ENDPOINT_DELETED: &str = "endpoint deleted";

/// An endpoint as its workspace lists it: never with its secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A new endpoint with its signing secret, shown this once.
#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub secret: String,
}

impl std::fmt::Debug for CreatedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedEndpoint")
            .field("endpoint", &self.endpoint)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One row of a workspace's delivery log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryEntry {
    pub id: String,
    /// The event id, sent as `webhook-id`.
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// Unix seconds; `None` once the delivery is settled.
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub created_at: i64,
}

fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        code,
        field,
        message: message.into(),
    }
}

/// An absolute `http` or `https` URL with a host.
fn check_url(url: &str) -> Result<(), StoreError> {
    let bad = || {
        invalid(
            ProblemCode::InvalidUrl.as_str(),
            "url",
            "`url` must be an absolute http:// or https:// URL",
        )
    };
    if url.len() > MAX_URL {
        return Err(invalid(
            ProblemCode::InvalidUrl.as_str(),
            "url",
            format!("`url` must be at most {MAX_URL} bytes"),
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(())
}

/// A non-empty list of known event types, or `["*"]`; duplicates dropped.
fn check_event_types(types: &[String]) -> Result<Vec<String>, StoreError> {
    if types.is_empty() {
        return Err(invalid(
            ProblemCode::InvalidEventTypes.as_str(),
            "event_types",
            "`event_types` must name at least one event type, or `*`",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if t != "*" && !EVENT_TYPES.contains(&t.as_str()) {
            return Err(invalid(
                ProblemCode::InvalidEventTypes.as_str(),
                "event_types",
                format!(
                    "`event_types` names an unknown event type `{t}`; known: *, {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn endpoint_from_row(row: &AnyRow) -> Result<Endpoint, sqlx::Error> {
    let types: String = row.try_get("event_types")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        url: row.try_get("url")?,
        event_types: serde_json::from_str(&types).unwrap_or_default(),
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryEntry, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let next: i64 = row.try_get("next_attempt_at")?;
    Ok(DeliveryEntry {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        endpoint_id: row.try_get("endpoint_id")?,
        next_attempt_at: (status == "pending").then_some(next),
        status,
        attempts: row.try_get("attempts")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        last_attempt_at: row.try_get("last_attempt_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Create an endpoint of `workspace_id`; the answer carries its secret,
    /// which no other call returns.
    #[tracing::instrument(name = "store.create_webhook_endpoint", skip_all)]
    pub async fn create_webhook_endpoint(
        &self,
        workspace_id: &str,
        url: &str,
        event_types: &[String],
        description: &str,
        meta: &Meta,
    ) -> Result<CreatedEndpoint, StoreError> {
        let url = url.trim();
        check_url(url)?;
        let event_types = check_event_types(event_types)?;
        let description = description.trim();
        if description.chars().count() > MAX_DESCRIPTION
            || description.chars().any(char::is_control)
        {
            return Err(invalid(
                ProblemCode::InvalidDescription.as_str(),
                "description",
                format!("`description` must be at most {MAX_DESCRIPTION} printable characters"),
            ));
        }
        let endpoint = Endpoint {
            id: format!("ep_{}", uuid::Uuid::now_v7().simple()),
            workspace_id: workspace_id.to_string(),
            url: url.to_string(),
            event_types,
            description: description.to_string(),
            created_at: now(),
        };
        let secret = new_secret();
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, secret, event_types, \
             description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&endpoint.id)
        .bind(workspace_id)
        .bind(&endpoint.url)
        .bind(&secret)
        .bind(json!(endpoint.event_types).to_string())
        .bind(&endpoint.description)
        .bind(endpoint.created_at)
        .execute(&mut *work.tx)
        .await?;
        work.audit(
            AuditRecord::success(workspace_id, "webhook.created", &endpoint.id)
                .with_detail(json!({ "url": endpoint.url, "event_types": endpoint.event_types })),
        )
        .await?;
        self.finish(work).await?;
        Ok(CreatedEndpoint { endpoint, secret })
    }

    /// The live endpoints of a workspace, oldest first, without secrets.
    #[tracing::instrument(name = "store.webhook_endpoints", skip_all)]
    pub async fn webhook_endpoints(&self, workspace_id: &str) -> Result<Vec<Endpoint>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT id, workspace_id, url, event_types, description, created_at \
             FROM webhook_endpoints WHERE workspace_id = $1 AND disabled_at IS NULL \
             ORDER BY created_at, id",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .iter()
            .map(endpoint_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Delete an endpoint of `workspace_id` and stop its pending deliveries
    /// (they end `dead`, "endpoint deleted"). The row stays, disabled, so
    /// the delivery log keeps its history. Another workspace's endpoint is
    /// not found.
    #[tracing::instrument(name = "store.delete_webhook_endpoint", skip_all)]
    pub async fn delete_webhook_endpoint(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let at = now();
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = $1 \
             WHERE id = $2 AND workspace_id = $3 AND disabled_at IS NULL",
        )
        .bind(at)
        .bind(endpoint_id)
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "webhook endpoint",
            });
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'dead', last_error = $1, locked_until = NULL \
             WHERE endpoint_id = $2 AND workspace_id = $3 AND status = 'pending'",
        )
        .bind(ENDPOINT_DELETED)
        .bind(endpoint_id)
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await?;
        work.audit(AuditRecord::success(
            workspace_id,
            "webhook.deleted",
            endpoint_id,
        ))
        .await?;
        self.finish(work).await
    }

    /// Emit a `webhook.test` event to every endpoint of the workspace
    /// subscribed to it, with an audit row. Returns the event id.
    #[tracing::instrument(name = "store.emit_test_event", skip_all)]
    pub async fn emit_test_event(
        &self,
        workspace_id: &str,
        meta: &Meta,
    ) -> Result<String, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let data = json!({ "message": "a test event" });
        let event_id = work.emit(workspace_id, "webhook.test", data).await?;
        work.audit(AuditRecord::success(
            workspace_id,
            "webhook.tested",
            &event_id,
        ))
        .await?;
        self.finish(work).await?;
        Ok(event_id)
    }

    /// Send a `webhook.test` event to one endpoint of the workspace only,
    /// whatever it subscribes to. Returns the event id.
    #[tracing::instrument(name = "store.send_test_event", skip_all)]
    pub async fn send_test_event(
        &self,
        workspace_id: &str,
        endpoint_id: &str,
        meta: &Meta,
    ) -> Result<String, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let live: Option<String> = sqlx::query_scalar(
            "SELECT id FROM webhook_endpoints \
             WHERE id = $1 AND workspace_id = $2 AND disabled_at IS NULL",
        )
        .bind(endpoint_id)
        .bind(workspace_id)
        .fetch_optional(&mut *work.tx)
        .await?;
        if live.is_none() {
            return Err(StoreError::NotFound {
                what: "webhook endpoint",
            });
        }
        let data = json!({ "message": "a test event", "endpoint_id": endpoint_id });
        let event_id = work.emit(workspace_id, "webhook.test", data).await?;
        // The outbox fanned out to every subscriber: keep only this endpoint.
        sqlx::query(
            "DELETE FROM webhook_deliveries \
             WHERE event_id = $1 AND workspace_id = $2 AND endpoint_id <> $3",
        )
        .bind(&event_id)
        .bind(workspace_id)
        .bind(endpoint_id)
        .execute(&mut *work.tx)
        .await?;
        let at = now();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, workspace_id, status, \
             attempts, next_attempt_at, created_at) \
             SELECT $1, $2, $3, $4, 'pending', 0, $5, $5 WHERE NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries WHERE event_id = $2 AND endpoint_id = $3)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&event_id)
        .bind(endpoint_id)
        .bind(workspace_id)
        .bind(at)
        .execute(&mut *work.tx)
        .await?;
        work.audit(AuditRecord::success(
            workspace_id,
            "webhook.tested",
            endpoint_id,
        ))
        .await?;
        self.finish(work).await?;
        Ok(event_id)
    }

    /// A workspace's delivery log, newest first, at most `limit` rows.
    #[tracing::instrument(name = "store.webhook_deliveries", skip_all)]
    pub async fn webhook_deliveries(
        &self,
        workspace_id: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryEntry>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, e.event_type, d.endpoint_id, d.status, d.attempts, \
             d.last_status, d.last_error, d.next_attempt_at, d.last_attempt_at, d.created_at \
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.workspace_id = $1 AND e.workspace_id = $1 \
             ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
        )
        .bind(workspace_id)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }
}
