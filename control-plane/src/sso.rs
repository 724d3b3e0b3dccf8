//! Single sign-on with OpenID Connect: sealing client secrets, the
//! provider HTTP client (with the SSRF guard for workspace connections),
//! discovery and keys, linking identities to users, and the domains
//! workspaces prove with DNS (the sign-in flow and back-channel logouts,
//! which answer requests, are the API's: `api::sso_flow`, `api::sso_logout`).

pub mod dns;
pub mod domain_name;
pub mod domain_worker;
pub mod http;
pub mod linking;
pub mod provider;
pub mod seal;
pub mod state;
