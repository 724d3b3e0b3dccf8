//! The WRNexus gateway: a pingora reverse proxy that authenticates every
//! request, resolves its workspace and membership, asks Cedar, and forwards
//! only what is allowed, with verified identity headers.
//!
//! # Layout
//!
//! Rooms, from the request's way in to its way out; none imports a room
//! above it except through the shared leaves (`config`, `refusal`).
//!
//! - [`proxy`] — the phases of a request (prepare → admit → forward →
//!   answer), the per-request state, admission by session or API key, and
//!   the Cedar decision. What admission admits is all a later phase acts on.
//! - [`request`] — what the client asked, understood once: framing, the
//!   canonical path, routes and actions, the workspace a path names, CSRF.
//! - [`authn`] — session tokens, the verified-token cache, the control
//!   plane's signing keys, API keys.
//! - [`data`] — decision data: resolution (cache → Redis → control plane),
//!   the cache, invalidations, per-connection memory, open WebSockets.
//! - [`upstream`] — the contract with apps: forwarding headers, identity,
//!   the request an app receives; each route's upstreams (TLS, balancing,
//!   health checks, re-resolution).
//! - [`edge`] — the listener's side facing clients: TLS certificates by
//!   SNI and their reload, the TLS settings, the HTTP → HTTPS redirect.
//! - [`refusal`] — every response the gateway makes itself, in one type.
//! - [`key_usage`] — API key use, recorded and reported.
//! - [`ops`] — metrics, the admin listener, policy hot reload.
//! - [`config`] — settings, plain data; [`server`] wires and runs it all.
//! - [`demo`] — the echoing demo upstream of `wrnexus dev`;
//!   [`passthrough`] — benchmark reference only: a bare proxy with **no
//!   authentication**, for comparing the gateway with pingora alone.

pub mod authn;
pub mod config;
pub mod data;
pub mod demo;
pub mod edge;
pub mod key_usage;
pub mod ops;
pub mod passthrough;
pub mod proxy;
pub mod refusal;
pub mod request;
pub mod server;
pub mod upstream;

pub use config::{ActionRule, GatewayConfig, RouteConfig, Upstream};
pub use server::{GatewayError, run};
