//! The WRNexus wire contract: the values other programs depend on — apps
//! behind a gateway, API clients, operators' tooling — in one place, so the
//! gateway, the control plane and the SDK cannot spell them differently.
//!
//! # Layout
//!
//! - [`tenancy`] — a member's [`Role`] and a [`WorkspaceStatus`], with the
//!   names they have on the wire.
//! - [`assertion`] — the claims of the signed `x-wrnexus-assertion` JWT the
//!   gateway adds to every forwarded request.
//! - [`headers`] — the header names apps and clients see.
//! - [`problem`] — RFC 9457 problem+json bodies and their stable
//!   machine-readable [`ProblemCode`]s.
//!
//! Only serde is needed. The `openapi` feature derives `utoipa::ToSchema`
//! for the types an OpenAPI document names.

pub mod assertion;
pub mod headers;
pub mod problem;
pub mod tenancy;

pub use assertion::AssertionClaims;
pub use problem::{Problem, ProblemCode};
pub use tenancy::{Role, UnknownName, WorkspaceStatus};
