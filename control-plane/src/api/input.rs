//! Request bodies that may come as JSON or as an HTML form.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

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
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let form = content_type.starts_with("application/x-www-form-urlencoded");
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::field("invalid_body", "body", "the request body could not be read")
        })?;
        let value = if form {
            serde_urlencoded::from_bytes(&bytes).map_err(|e| {
                ApiError::field(
                    "invalid_body",
                    "body",
                    format!("the form is malformed: {e}"),
                )
            })?
        } else if bytes.is_empty() {
            serde_json::from_slice(b"{}")
                .map_err(|_| ApiError::field("invalid_body", "body", "a JSON body is required"))?
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::field(
                    "invalid_body",
                    "body",
                    format!("the body is not valid JSON: {e}"),
                )
            })?
        };
        Ok(Input { value, form })
    }
}
