//! Why a request is refused, and the RFC 9457 problem+json answer for it.
//! Details name the check that failed, never the token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wrnexus_contract::problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemCode};

/// A request the SDK refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No assertion header: the request did not come through the gateway
    /// (or the gateway does not sign assertions).
    #[error("the request carries no gateway assertion")]
    Missing,
    /// Malformed, badly signed, wrong issuer or audience, or unusable claims.
    #[error("the gateway assertion is invalid: {0}")]
    Invalid(String),
    /// Past its `exp` (beyond the leeway).
    #[error("the gateway assertion has expired")]
    Expired,
    /// Signed with a key the published key set does not hold.
    #[error("the gateway assertion is signed with an unknown key")]
    UnknownKey,
    /// The key set could not be fetched, so nothing can be verified.
    #[error("the gateway's assertion keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// Neither the layer nor a `Verifier` extension is installed.
    #[error("no wrnexus_sdk::Verifier is installed on this route")]
    NotConfigured,
}

impl VerifyError {
    /// The stable machine-readable code of the answer.
    pub fn code(&self) -> &'static str {
        self.problem_code().as_str()
    }

    /// The same code, as the contract lists it.
    pub fn problem_code(&self) -> ProblemCode {
        match self {
            VerifyError::Missing => ProblemCode::NotThroughGateway,
            VerifyError::Invalid(_) => ProblemCode::InvalidAssertion,
            VerifyError::Expired => ProblemCode::AssertionExpired,
            VerifyError::UnknownKey => ProblemCode::UnknownAssertionKey,
            VerifyError::KeysUnavailable(_) => ProblemCode::AssertionKeysUnavailable,
            VerifyError::NotConfigured => ProblemCode::SdkNotConfigured,
        }
    }

    /// 401 for the caller's fault, 503 when the keys cannot be had, 500
    /// for an app wired without a verifier.
    pub fn status(&self) -> StatusCode {
        match self {
            VerifyError::Missing
            | VerifyError::Invalid(_)
            | VerifyError::Expired
            | VerifyError::UnknownKey => StatusCode::UNAUTHORIZED,
            VerifyError::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            VerifyError::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.problem_code();
        let detail = match &self {
            // Server-side trouble: the cause is logged, not shown.
            VerifyError::KeysUnavailable(cause) => {
                tracing::warn!(error = %cause, "assertion keys unavailable");
                "the gateway's assertion keys are unavailable".to_string()
            }
            VerifyError::NotConfigured => {
                tracing::error!("GatewayContext extracted on a route without a Verifier");
                "this route is not configured to verify gateway assertions".to_string()
            }
            other => other.to_string(),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let problem = Problem::new(status.as_u16(), title, code, detail);
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        response
    }
}
