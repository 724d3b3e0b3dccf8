//! Harness for the end-to-end suites: real `wrnexus` processes on loopback,
//! real Postgres and Redis.
//!
//! # Layout
//!
//! - [`process`] — finding the binary, spawning processes, free ports.
//! - [`services`] — Postgres and Redis: fresh databases, loud skips, and
//!   `WRNEXUS_REQUIRE_SERVICES=1` turning a missing service into a failure;
//!   private `redis-server`s, plain or speaking TLS.
//! - [`postgres_tls`] — the suites' Postgres with TLS turned on, its
//!   certificate signed by a test CA.
//! - [`certs`] — test CAs and server certificates, made on the spot.
//! - [`stack`] — a running WRNexus, embedded (`wrnexus dev`) or split
//!   (control plane + gateway + demo upstream processes).
//! - [`client`] — HTTP helpers speaking to the gateway.
//! - [`mailbox`] — reading `wrnexus dev`'s mailbox, and links out of mail.
//! - [`h2_client`] — raw HTTP/2 over TLS, and an HTTPS client for a test CA.
//! - [`apps`] — in-process echoing apps to put behind a gateway.
//! - [`otlp`] — an OTLP/HTTP trace receiver decoding what it is sent with
//!   the official protobuf definitions; a traced app's own span.
//! - [`upstreams`] — echoing apps that stop and start again on their port,
//!   over HTTP or TLS (mutual, or not).
//! - [`oidc`] — a real OpenID provider (`oidc-provider` under Node, from
//!   `tests/oidc`) and a browser-like walk through its sign-in and sign-out.
//! - [`redis_topology`] — Redis Sentinel (a master, a replica, three
//!   sentinels) and Redis Cluster (six nodes) to fail over.
//! - [`dns`] — a DNS server on loopback answering TXT queries from a map.
//! - [`fault_proxy`] — a TCP proxy a test partitions and heals.
//! - [`chaos`] — chaos under load: a fleet, faults, a load of allowed,
//!   denied and revoked requests, and the check of what reached the app.
//! - [`tokens`] — minting session tokens with the stored key, to test what
//!   the gateway refuses.
//! - [`minter`] — minting many session tokens with the key read once.
//! - [`soak`] — long load at a fraction of the maximum: errors, p99, memory.

pub mod apps;
pub mod certs;
pub mod chaos;
pub mod client;
pub mod dns;
pub mod fault_proxy;
pub mod h2_client;
pub mod mailbox;
pub mod minter;
pub mod oidc;
pub mod otlp;
pub mod postgres_tls;
pub mod process;
pub mod redis_topology;
pub mod services;
pub mod soak;
pub mod stack;
pub mod tokens;
pub mod upstreams;

/// Errors in tests are reported, not unwrapped.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
