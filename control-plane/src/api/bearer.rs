//! Shared secrets shown as `Authorization: Bearer` (the operator token, the
//! gateway token), compared in constant time.

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

/// Whether the request's Bearer is `expected`.
pub fn is(headers: &HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}
