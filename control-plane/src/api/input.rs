//! Request bodies that may come as JSON or as an HTML form, told apart by
//! `Content-Type`: JSON only under `application/json` or
//! `application/*+json`, never under `text/plain` or no type at all.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use wrnexus_contract::ProblemCode;

/// A body decoded from JSON or `application/x-www-form-urlencoded`;
/// `form` says which, so the answer can match (JSON or a redirect/page).
#[derive(Debug)]
pub struct Input<T> {
    pub value: T,
    pub form: bool,
}

impl<S, T> FromRequest<S> for Input<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_string());
        let kind = BodyKind::of(content_type.as_deref());
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::field(
                ProblemCode::InvalidBody,
                "body",
                "the request body could not be read",
            )
        })?;
        let value = match kind {
            BodyKind::Form => serde_urlencoded::from_bytes(&bytes).map_err(|e| {
                ApiError::field(
                    ProblemCode::InvalidBody,
                    "body",
                    format!("the form is malformed: {e}"),
                )
            })?,
            _ if bytes.is_empty() => serde_json::from_slice(b"{}").map_err(|_| {
                ApiError::field(ProblemCode::InvalidBody, "body", "a JSON body is required")
            })?,
            BodyKind::Json => json(&bytes)?,
            BodyKind::Other => return Err(unsupported(content_type.as_deref())),
        };
        let form = kind == BodyKind::Form;
        Ok(Input { value, form })
    }
}

/// How a body is to be read, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// `application/json` or `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Anything else, or none: never parsed (an empty body reads as `{}`).
    Other,
}

impl BodyKind {
    fn of(content_type: Option<&str>) -> Self {
        let essence = content_type
            .and_then(|t| t.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => BodyKind::Json,
            "application/x-www-form-urlencoded" => BodyKind::Form,
            t if t.starts_with("application/") && t.ends_with("+json") => BodyKind::Json,
            _ => BodyKind::Other,
        }
    }
}

/// A body under a type that is neither JSON nor a form: a browser on
/// another site can send `text/plain` without asking, so it is never read
/// as JSON.
fn unsupported(content_type: Option<&str>) -> ApiError {
    let detail = match content_type {
        Some(t) => format!(
            "a body of type `{}` is not accepted: send `application/json`",
            t.chars().take(100).collect::<String>()
        ),
        None => {
            "a body without a content type is not accepted: send `application/json`".to_string()
        }
    };
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ProblemCode::UnsupportedMediaType,
        detail,
    )
}

/// Decode a JSON body; a value of the wrong type or shape is reported
/// against its path in the body (`role`; `a.b[0]` when nested).
fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let whole = |detail: String| ApiError::field(ProblemCode::InvalidBody, "body", detail);
    let mut decoder = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut decoder).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match (inner.is_data(), path.as_str()) {
            (true, ".") => whole(format!("the body has the wrong shape: {inner}")),
            (true, _) => {
                let detail = format!("`{path}` has the wrong type or form ({inner})");
                ApiError::field(ProblemCode::InvalidBody, path, detail)
            }
            (false, _) => whole(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    decoder
        .end()
        .map_err(|e| whole(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Longest name (workspace, project, key), in characters.
pub const MAX_NAME: usize = 100;

/// A required, trimmed, printable name of at most [`MAX_NAME`] characters.
pub fn name(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    let name = value
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing(field))?;
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            ProblemCode::InvalidName,
            field,
            format!("`{field}` must be at most {MAX_NAME} printable characters"),
        ));
    }
    Ok(name)
}

/// A role named in a request.
pub fn role(
    value: Option<String>,
    field: &'static str,
) -> Result<wrnexus_policies::Role, ApiError> {
    let value = value.ok_or_else(|| ApiError::missing(field))?;
    value.parse().map_err(|_| {
        ApiError::field(
            ProblemCode::InvalidRole,
            field,
            format!("`{field}` must be owner, admin, member or viewer, not `{value}`"),
        )
    })
}
