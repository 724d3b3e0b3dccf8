//! The axum extractor: `GatewayContext` (or `Option<GatewayContext>`) as a
//! handler argument. It takes the context the [`crate::GatewayLayer`] put in
//! the request extensions, else verifies the header with the [`Verifier`]
//! installed as an extension (`.layer(axum::Extension(verifier))`).

use crate::claims::GatewayContext;
use crate::error::VerifyError;
use crate::verifier::Verifier;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

async fn context(parts: &mut Parts) -> Result<GatewayContext, VerifyError> {
    if let Some(context) = parts.extensions.get::<GatewayContext>() {
        return Ok(context.clone());
    }
    let verifier = parts
        .extensions
        .get::<Verifier>()
        .cloned()
        .ok_or(VerifyError::NotConfigured)?;
    let context = verifier.verify_headers(&parts.headers).await?;
    parts.extensions.insert(context.clone());
    Ok(context)
}

/// Refuses, as 401 problem+json, a request without a valid assertion.
impl<S: Send + Sync> FromRequestParts<S> for GatewayContext {
    type Rejection = VerifyError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, VerifyError> {
        context(parts).await
    }
}

/// `None` without an assertion header (for routes anonymous callers may
/// use too); an invalid assertion is still refused.
impl<S: Send + Sync> OptionalFromRequestParts<S> for GatewayContext {
    type Rejection = VerifyError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, VerifyError> {
        match context(parts).await {
            Ok(context) => Ok(Some(context)),
            Err(VerifyError::Missing) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
