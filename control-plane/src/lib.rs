//! The WRNexus control plane: tenancy data, sign-in, and the JSON API.
//!
//! # Layout
//!
//! - [`config`] — settings.
//! - [`store`] — Postgres or SQLite behind one API; every write is one
//!   transaction and pushes its changed decision data after commit.
//! - [`push`] — writing entries to Redis and publishing invalidations.
//! - [`tokens`] — the Ed25519 key, session JWTs, the public key set.
//! - [`password`] — argon2id and the strength rule.
//! - [`mail`] — the messages mailed through the outbox.
//! - [`api`] — routes, extractors and the one error type.
//! - [`webhook_signing`] — Standard Webhooks secrets and signatures.
//! - [`webhook_target`] — the address classes webhooks may not reach, and
//!   the operator's allowed networks.
//! - [`webhook_resolve`] — checking a webhook URL's target at creation and
//!   at connect time (the worker's resolver).
//! - [`webhook_worker`] — delivering the webhook outbox, with retries.
//! - [`sso`] — single sign-on with OpenID Connect providers.
//! - [`server`] — wiring it together and serving.

pub mod api;
pub mod billing;
pub mod config;
pub mod mail;
pub mod metrics;
pub mod password;
pub mod push;
pub mod server;
pub mod sso;
pub mod store;
pub mod tokens;
pub mod webhook_resolve;
pub mod webhook_signing;
pub mod webhook_target;
pub mod webhook_worker;

pub use config::ControlPlaneConfig;
pub use server::{StartError, build, serve};
