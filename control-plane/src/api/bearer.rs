//! Shared secrets shown as `Authorization: Bearer` (the operator token, the
//! gateway token), compared in constant time.

use super::error::ApiError;
use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;
use wrnexus_contract::ProblemCode;

/// How a route guarded by a shared secret answers without it.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// The code and sentence of the 404 when no secret is configured.
    pub off: (ProblemCode, &'static str),
    /// The code and sentence of the 401 when the Bearer is not the secret.
    pub wrong: (ProblemCode, &'static str),
}

/// Whether the request's Bearer is `expected`.
pub fn is(headers: &HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Let the request through only if its Bearer is the configured secret.
pub fn require(headers: &HeaderMap, expected: Option<&str>, guard: Guard) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            guard.off.0,
            guard.off.1,
        ));
    };
    if is(headers, expected) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            guard.wrong.0,
            guard.wrong.1,
        ))
    }
}
