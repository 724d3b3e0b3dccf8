//! API errors, mapped to RFC 9457 problem+json in one place. 500s hide
//! their details from the client and log them.

use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::borrow::Cow;

/// An error answer: status, stable machine-readable code, a sentence, and
/// the offending field when there is one.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// A field's name, or its path in the body (`role`; `a.b[0]` when nested).
    pub field: Option<Cow<'static, str>>,
    /// Seconds to wait, for 429s.
    pub retry_after: Option<u64>,
    /// The id of the decision behind a 403.
    pub decision_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
            decision_id: None,
        }
    }

    /// A 400 about one input field.
    pub fn field(
        code: &'static str,
        field: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            detail: detail.into(),
            field: Some(field.into()),
            retry_after: None,
            decision_id: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn decision(mut self, id: &str) -> Self {
        self.decision_id = Some(id.to_string());
        self
    }

    pub fn missing(field: &'static str) -> Self {
        Self::field("missing_field", field, format!("`{field}` is required"))
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            StoreError::NotFound { what } => ApiError::not_found(what),
            StoreError::Forbidden { code, message } => {
                ApiError::new(StatusCode::FORBIDDEN, code, message)
            }
            // Handlers answer this one with a decision id (see
            // `authz::owner_checked`); this is the fallback.
            StoreError::OwnerRequired { what } => ApiError::new(
                StatusCode::FORBIDDEN,
                "owner_required",
                format!("only an owner can {what}"),
            ),
            StoreError::Invalid {
                code,
                field,
                message,
            } => ApiError::field(code, field, message),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::webhook_target::TargetForbidden> for ApiError {
    fn from(e: crate::webhook_target::TargetForbidden) -> Self {
        ApiError::field("webhook_target_forbidden", "url", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("/.wrnexus/problems/{}", self.code),
            "title": self.title(),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(field) = self.field {
            body["field"] = json!(field);
        }
        if let Some(id) = &self.decision_id {
            body["decision_id"] = json!(id);
        }
        let mut response = (self.status, body.to_string()).into_response();
        if let Some(id) = self
            .decision_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            response.headers_mut().insert("x-wrnexus-decision-id", id);
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
