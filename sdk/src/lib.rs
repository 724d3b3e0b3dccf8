//! For apps behind a WRNexus gateway: verify the signed
//! `x-wrnexus-assertion` header and get who is calling, in which workspace
//! and with which role.
//!
//! The gateway signs, for every request it forwards to an app, a short-lived
//! EdDSA JWT stating the principal (a user or an API key), the workspace
//! and the role the request was authorized with. The control plane
//! publishes the public keys as a JWKS at `/v1/assertion-keys` (through a
//! gateway: `/.wrnexus/api/v1/assertion-keys`). A [`Verifier`] fetches and
//! caches those keys and checks signature, issuer (`wrnexus-gateway`),
//! audience and expiry. Plain `x-user-id` / `x-workspace-*` headers are
//! never trusted: anyone who can reach the app directly can send them.
//!
//! Two ways to use it with axum:
//!
//! - [`GatewayLayer`] on a router: every request without a valid assertion
//!   is answered `401 application/problem+json` (`code`:
//!   `not_through_gateway`, `invalid_assertion`, `assertion_expired` or
//!   `unknown_assertion_key`; `503 assertion_keys_unavailable` when the keys
//!   cannot be fetched), and the [`GatewayContext`] is put in the request
//!   extensions.
//! - The [`GatewayContext`] extractor alone, with the verifier installed as
//!   `axum::Extension(verifier)`: only the handlers that take it are
//!   protected. `Option<GatewayContext>` is `None` without an assertion.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use wrnexus_sdk::{GatewayContext, GatewayLayer, Role, Verifier};
//!
//! async fn whoami(ctx: GatewayContext) -> String {
//!     let admin = ctx.role.at_least(Role::Admin);
//!     format!("{} in {} (admin: {admin})", ctx.principal.id(), ctx.workspace_id)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::remote(
//!     "http://127.0.0.1:8080/.wrnexus/api/v1/assertion-keys",
//!     wrnexus_sdk::DEFAULT_AUDIENCE,
//! )?;
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(GatewayLayer::new(verifier));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! An assertion is valid for 60 seconds and for one audience: configure a
//! distinct `assertion_audience` per app (gateway route) when apps must not
//! be able to replay each other's assertions. Keys are fetched with
//! `reqwest` built without TLS; for an `https` JWKS URL turn on a TLS
//! feature of `reqwest` in the app (`features = ["rustls"]`; features are
//! shared), or pass a client of your own to [`VerifierBuilder::http_client`].

mod claims;
mod error;
mod extract;
mod keys;
mod layer;
mod verifier;

pub use claims::{
    ASSERTION_HEADER, AssertionClaims, DEFAULT_AUDIENCE, GatewayContext, ISSUER, Principal, Role,
    UnknownKind,
};
pub use error::VerifyError;
pub use layer::{GatewayLayer, GatewayService};
pub use verifier::{ConfigError, Verifier, VerifierBuilder};
/// The wire contract the gateway and the SDK share: header names, problem
/// codes and bodies, roles and workspace status.
pub use wrnexus_contract as contract;
pub use wrnexus_contract::{Problem, ProblemCode};
