//! The client-facing edge of the proxy listener: its TLS certificates
//! (read and checked, chosen by SNI, reloaded on change or SIGHUP), the
//! TLS settings pingora serves with, how long idle client connections are
//! kept, and the plain listener redirecting to HTTPS.

pub mod certs;
pub mod keepalive;
pub mod listener;
pub mod redirect;
pub mod reload;
pub mod sni;
#[cfg(test)]
mod test_certs;
