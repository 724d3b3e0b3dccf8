//! A workspace's audit log: filtered pages with a cursor, and NDJSON export.

use super::AppState;
use super::authz::authorize;
use super::caller::Caller;
use super::error::ApiError;
use super::responses as doc;
use crate::store::audit::{AuditEntry, AuditQuery};
use crate::store::outbox::rfc3339;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::Action;

/// Largest page.
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    actor: Option<String>,
    action: Option<String>,
    /// RFC 3339 or Unix seconds, inclusive.
    since: Option<String>,
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 500; default 100.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

fn time(value: Option<String>, field: &'static str) -> Result<Option<i64>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(Some(secs));
    }
    time::OffsetDateTime::parse(&value, &time::format_description::well_known::Rfc3339)
        .map(|t| Some(t.unix_timestamp()))
        .map_err(|_| {
            ApiError::field(
                ProblemCode::InvalidTime,
                field,
                format!("`{field}` must be RFC 3339 (e.g. 2026-11-25T10:00:00Z) or Unix seconds"),
            )
        })
}

/// A page size from the query: `default` when absent, else a whole number
/// from 1 to `max` (anything else names `limit`).
pub fn limit(value: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    let Some(value) = value else {
        return Ok(default);
    };
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::field(
                ProblemCode::InvalidLimit,
                "limit",
                format!("`limit` must be a whole number from 1 to {max}, not `{value}`"),
            )
        })
}

impl Filters {
    fn query(self) -> Result<AuditQuery, ApiError> {
        let after = match self.cursor {
            None => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                ApiError::field(
                    ProblemCode::InvalidCursor,
                    "cursor",
                    "`cursor` must be a `next_cursor` from an earlier page",
                )
            })?),
        };
        let limit = limit(self.limit.as_deref(), 100, MAX_LIMIT)?;
        Ok(AuditQuery {
            actor_id: self.actor,
            action: self.action,
            since: time(self.since, "since")?,
            until: time(self.until, "until")?,
            after,
            limit,
        })
    }
}

/// An audit row as the API renders it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRow {
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// `at` as RFC 3339.
    pub time: String,
}

impl From<AuditEntry> for AuditRow {
    fn from(entry: AuditEntry) -> Self {
        let time = rfc3339(entry.at);
        AuditRow { entry, time }
    }
}

/// One page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// A page of the audit log, newest filters applied (admins).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/audit",
    tag = "audit",
    operation_id = "list_audit",
    params(("id" = String, Path, description = "Workspace id"), Filters),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One page", body = AuditPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = filters.query()?;
    authorize(&state, &caller, &id, None, Action::ADMIN, "/audit").await?;
    let entries = state.store.audit_log(&id, &query).await?;
    let next = (i64::try_from(entries.len()).unwrap_or(i64::MAX) == query.limit)
        .then(|| entries.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(AuditRow::from).collect(),
        next_cursor: next,
    }))
}

/// Every matching row as one JSON object per line, streamed page by page.
#[utoipa::path(
    get,
    path = "/workspaces/{id}/audit/export",
    tag = "audit",
    operation_id = "export_audit",
    params(("id" = String, Path, description = "Workspace id"), Filters),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "NDJSON: one audit row per line", body = AuditRow, content_type = "application/x-ndjson"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, ApiError> {
    let mut query = filters.query()?;
    query.limit = MAX_LIMIT;
    authorize(&state, &caller, &id, None, Action::ADMIN, "/audit").await?;
    let store = state.store.clone();
    let pages = futures_util::stream::try_unfold(Some(query), move |query| {
        let store = store.clone();
        let id = id.clone();
        async move {
            let Some(mut query) = query else {
                return Ok::<_, BoxError>(None);
            };
            let entries = store.audit_log(&id, &query).await?;
            if entries.is_empty() {
                return Ok(None);
            }
            let more = i64::try_from(entries.len()).unwrap_or(i64::MAX) == query.limit;
            query.after = entries.last().map(|e| e.seq);
            let mut chunk = Vec::new();
            for entry in entries {
                serde_json::to_writer(&mut chunk, &AuditRow::from(entry))?;
                chunk.push(b'\n');
            }
            Ok(Some((chunk, more.then_some(query))))
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
