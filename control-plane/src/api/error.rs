//! API errors, mapped to RFC 9457 problem+json in one place: every error
//! body is a [`Problem`] of the wire contract, with a [`ProblemCode`] of its
//! list. 500s hide their details from the client and log them.

use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use wrnexus_contract::headers::DECISION_ID;
use wrnexus_contract::problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemCode, problem_type};

/// An error answer: status, stable machine-readable code, a sentence, and
/// the offending field when there is one.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A [`ProblemCode`]'s wire string.
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
    /// An answer with `code`: a [`ProblemCode`], or its wire string (as
    /// the store names its refusals).
    pub fn new(
        status: StatusCode,
        code: impl Into<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self::coded(status, code.into(), detail.into())
    }

    /// A 400 about one input field.
    pub fn field(
        code: impl Into<&'static str>,
        field: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self::coded(StatusCode::BAD_REQUEST, code.into(), detail.into()).at(field)
    }

    fn coded(status: StatusCode, code: &'static str, detail: String) -> Self {
        ApiError {
            status,
            code,
            detail,
            field: None,
            retry_after: None,
            decision_id: None,
        }
    }

    fn at(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(field.into());
        self
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
        Self::field(
            ProblemCode::MissingField,
            field,
            format!("`{field}` is required"),
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::Unauthenticated,
            "sign in first",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::Internal,
            "internal error",
        )
    }

    /// The body: status, its reason phrase, code, detail and the field or
    /// decision when there is one.
    pub fn problem(&self) -> Problem {
        let title = self.status.canonical_reason().unwrap_or("Error");
        Problem {
            kind: problem_type(self.code),
            title: title.to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail.clone(),
            field: self.field.as_ref().map(|f| f.to_string()),
            request_id: None,
            decision_id: self.decision_id.clone(),
            trace_id: None,
            sign_in_url: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { code, message } => {
                ApiError::coded(StatusCode::CONFLICT, code, message)
            }
            StoreError::NotFound { what } => ApiError::not_found(what),
            StoreError::Forbidden { code, message } => {
                ApiError::coded(StatusCode::FORBIDDEN, code, message)
            }
            // Handlers answer this one with a decision id (see
            // `authz::owner_checked`); this is the fallback.
            StoreError::OwnerRequired { what } => ApiError::new(
                StatusCode::FORBIDDEN,
                ProblemCode::OwnerRequired,
                format!("only an owner can {what}"),
            ),
            StoreError::Invalid {
                code,
                field,
                message,
            } => ApiError::coded(StatusCode::BAD_REQUEST, code, message).at(field),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::webhook_target::TargetForbidden> for ApiError {
    fn from(e: crate::webhook_target::TargetForbidden) -> Self {
        ApiError::field(ProblemCode::WebhookTargetForbidden, "url", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem())).into_response();
        if let Some(id) = self
            .decision_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            response.headers_mut().insert(DECISION_ID, id);
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: ApiError) -> Result<String, serde_json::Error> {
        serde_json::to_string(&e.problem())
    }

    #[test]
    fn problems_keep_their_shape() -> Result<(), serde_json::Error> {
        assert_eq!(
            body(ApiError::missing("name"))?,
            r#"{"type":"/.wrnexus/problems/missing_field","title":"Bad Request","status":400,"code":"missing_field","detail":"`name` is required","field":"name"}"#
        );
        let denied =
            ApiError::new(StatusCode::FORBIDDEN, ProblemCode::Forbidden, "no").decision("d1");
        assert_eq!(
            body(denied)?,
            r#"{"type":"/.wrnexus/problems/forbidden","title":"Forbidden","status":403,"code":"forbidden","detail":"no","decision_id":"d1"}"#
        );
        let conflict = ApiError::from(StoreError::Conflict {
            code: ProblemCode::LastOwner.as_str(),
            message: "keep one".into(),
        });
        assert_eq!(conflict.status, StatusCode::CONFLICT);
        assert_eq!(conflict.code, "last_owner");
        Ok(())
    }

    #[test]
    fn answers_are_problem_json_with_the_decision_header() {
        let response = ApiError::new(StatusCode::FORBIDDEN, ProblemCode::Forbidden, "no")
            .decision("d1")
            .into_response();
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        assert_eq!(headers[DECISION_ID], "d1");
    }
}
