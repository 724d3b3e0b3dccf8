//! The WRNexus gateway: a pingora reverse proxy that authenticates every
//! request, resolves its workspace and membership, asks Cedar, and forwards
//! only what is allowed, with verified identity headers.
//!
//! # Layout
//!
//! - [`config`] — settings.
//! - [`proxy`] — the life of a request (authn → resolve → decide → forward);
//!   the admission phase (authn → resolve → decide) is in `admit`.
//! - [`authn`] — the session cookie and JWT verification.
//! - [`identity`] — the verified identity an allowed request carries.
//! - [`remembered`] — what a keep-alive connection keeps of its last
//!   session request.
//! - [`api_key`] — `Bearer wrn_…` keys checked against their pushed entry.
//! - [`workspace_path`] — `/w/{workspace_id}/…` links; [`switch`] re-issues
//!   the cookie when such a link leads into another workspace.
//! - [`key_usage`] — API key use (last use, refusals) recorded per
//!   request; [`key_usage_report`] sends it to the control plane.
//! - [`token_cache`] — verified session tokens, by hash, until `exp`.
//! - [`keys`] — the control plane's public keys, refreshed on a schedule.
//! - [`resolve`] — decision data from the local cache, Redis, or the
//!   control plane; failing closed.
//! - [`cache`] — the bounded in-process cache with version tombstones.
//! - [`invalidation`] — following Redis pub/sub or the in-process bus.
//! - [`routes`] — which app serves a request, and which Cedar action it is.
//! - [`framing`] — refusing requests with ambiguous length or credentials.
//! - [`csrf`] — cookie-authenticated writes from another origin refused.
//! - [`forwarded`] — `X-Forwarded-*` and `X-Request-Id`, trusted proxies.
//! - [`path`] — refusing paths a backend could read differently.
//! - [`headers`] — stripping and setting the identity headers.
//! - [`problem`] — the responses the gateway writes itself.
//! - [`sockets`] — open WebSocket connections, cut when what they
//!   depend on changes.
//! - [`reload`] — hot reload of the policy directory (watch and SIGHUP).
//! - [`metrics`] and [`admin`] — Prometheus metrics, `/live`, `/ready`;
//!   [`request_metrics`] keeps the series each request touches.
//! - [`demo`] — the echoing demo upstream of `wrnexus dev`.
//! - [`server`] — wiring and running it all.
//! - [`passthrough`] — benchmark reference only: a bare proxy with **no
//!   authentication**, for comparing the gateway with pingora alone.

pub mod admin;
mod admit;
pub mod api_key;
pub mod authn;
pub mod cache;
pub mod config;
pub mod csrf;
pub mod demo;
pub mod forwarded;
pub mod framing;
pub mod headers;
pub mod identity;
pub mod invalidation;
pub mod key_usage;
pub mod key_usage_report;
pub mod keys;
pub mod metrics;
pub mod passthrough;
pub mod path;
pub mod problem;
pub mod proxy;
pub mod reload;
pub mod remembered;
pub mod request_metrics;
pub mod resolve;
pub mod routes;
pub mod server;
pub mod sockets;
pub mod switch;
pub mod token_cache;
pub mod upstream_request;
pub mod workspace_path;

pub use config::{GatewayConfig, Upstream};
pub use routes::{ActionRule, RouteConfig};
pub use server::{GatewayError, run};
