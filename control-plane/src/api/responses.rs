//! What the `#[utoipa::path]` annotations name beside the handlers' own
//! bodies: the problem answers by status, and the shapes of two bodies
//! whose types live in crates free of utoipa.

use serde::Serialize;
use utoipa::{ToResponse, ToSchema};
use wrnexus_contract::Problem;

/// The input is invalid (see `field`).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// No valid session, session token or API key.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(pub Problem);

/// The policy refused (see `decision_id`).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// No such resource, or not visible to the caller.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The change conflicts with the current state (e.g. a name is taken).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// Too many attempts; wait `Retry-After` seconds.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct TooManyRequests(pub Problem);

// The two bodies below belong to other crates that stay free of utoipa
// (`jsonwebtoken::jwk::JwkSet`, `wrnexus_policies::DecisionData`); the
// handlers answer with those types, and these name their shape.

/// The control plane's public signing keys (RFC 7517 JWK set).
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<serde_json::Value>,
}

/// Versioned decision entries (session, user, workspace, membership, API
/// key, project) keyed by cache key, as gateways cache them.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionData {
    pub entries: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A backend the service needs does not answer; try again shortly.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unavailable(pub Problem);
