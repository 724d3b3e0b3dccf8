//! Reaching the backing services, Postgres and Redis, over TLS: CA files
//! read and checked before anything connects, a database URL's `sslmode`
//! and `sslrootcert` checked as libpq spells them, and every Redis client
//! built in one place, so that `rediss://` and its CA apply to each
//! connection. The gateway, the control plane and `wrnexus config check`
//! all use it, so a setting means the same to each.
//!
//! # Layout
//!
//! - [`ca`] — a CA file: PEM certificates that can be trust anchors.
//! - [`postgres_tls`] — the TLS settings of a `postgres://` URL, and what a
//!   failed handshake means in their words.
//! - [`redis_target`] — where Redis is: one node, a Sentinel-watched master
//!   or a Cluster, as one URL.
//! - [`redis_client`] — Redis clients with their TLS settings; `#insecure`
//!   refused; a certificate that does not verify told apart from an outage.
//! - [`redis_connection`] — one connection type for every topology, found
//!   again after a failover.
//! - [`redact`] — URLs without credentials, for messages and logs.
//!
//! TLS is rustls on aws-lc-rs, the one crypto provider of the build.

pub mod ca;
pub mod postgres_tls;
pub mod redact;
pub mod redis_client;
pub mod redis_connection;
pub mod redis_target;

pub use ca::{CaFile, CaFileError};
pub use postgres_tls::{PostgresTls, PostgresTlsError, SslMode, is_handshake_error};
pub use redact::redact_url;
pub use redis_client::{RedisClient, RedisSetupError};
pub use redis_connection::RedisConnection;
pub use redis_target::{RedisTarget, Topology};

/// Make aws-lc-rs the process's rustls provider, for the clients (Redis)
/// that ask rustls for the default one. Harmless when one is installed.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have installed the same provider meanwhile.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
