//! The contract with upstream apps and the way to them: the header names,
//! the forwarding headers, the verified identity, the request an app
//! receives; and each route's upstreams — TLS, balancing, health checks,
//! re-resolution.

pub mod balance;
pub mod discovery;
pub mod forwarded;
pub mod headers;
pub mod health;
pub mod identity;
pub mod names;
pub mod pool;
pub mod request;
pub mod tls;
pub mod trace_context;
pub mod upkeep;
