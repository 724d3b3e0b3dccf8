//! Adversarial properties of the parsers an attacker feeds: each target
//! takes arbitrary bytes and asserts the property the product promises
//! (not just "no panic"). The same bodies run under libFuzzer
//! (`fuzz/harness`, `cargo fuzz`) and in the ordinary test suite, which
//! replays the committed corpora (`fuzz/corpus/<target>/`).
//!
//! # Layout
//!
//! - [`path`] — the canonical path: a fixed point, forwardable as is, and
//!   read by a case-folding, decoding framework as the gateway decided.
//! - [`cookie`] — the session-cookie scan and the JWT header parse.
//! - [`headers`] — the identity-header strip and the consumed credentials.
//! - [`api_key`] — the `Bearer wrn_…` parse.
//! - [`stripe`] — the `Stripe-Signature` check.
//! - [`return_to`] — `return_to` values never redirect off-origin.
//! - [`oracle`] — independent readings the targets compare against.

pub mod api_key;
pub mod cookie;
pub mod headers;
pub mod oracle;
pub mod path;
pub mod return_to;
pub mod stripe;

/// A target's body: panics when the property fails for `data`.
pub type Check = fn(data: &[u8]);

/// The targets by name (the corpus folder of each), for the replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("path", path::check),
    ("cookie", cookie::check),
    ("headers", headers::check),
    ("api_key", api_key::check),
    ("stripe", stripe::check),
    ("return_to", return_to::check),
];
