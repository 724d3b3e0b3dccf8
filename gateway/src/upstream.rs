//! The contract with upstream apps: the header names, the forwarding
//! headers, the verified identity, and the request an app receives.

pub mod forwarded;
pub mod headers;
pub mod identity;
pub mod names;
pub mod request;
