//! Test peers for the WRNexus suites, real enough to talk to over the wire.
//!
//! # Layout
//! - [`smtp`]: an SMTP server that keeps what it receives, for reading back.
//! - [`stripe`]: Stripe's webhook signing, the project's event fixtures, and
//!   a stand-in for the Stripe API that records each call.

pub mod smtp;
pub mod stripe;

/// What the peers return on failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
