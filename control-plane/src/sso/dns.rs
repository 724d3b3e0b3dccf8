//! The DNS TXT check behind domain verification: `_wrnexus-challenge.<domain>`
//! must hold `wrnexus-domain-verification=<token>` exactly. Asked of the
//! configured resolver (UDP, then TCP) or of the system's, with timeouts and
//! no cache, so a removed record is seen at the next check.

use super::domain_name::{challenge_name, challenge_value};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one query may take before it is tried again (or given up).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of each query.
const ATTEMPTS: usize = 2;

/// The resolver could not be set up (the system's configuration unreadable).
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct DnsSetupError(String);

/// Why a domain's proof was not found; the sentence is stored and shown to
/// the workspace's owners.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    /// No TXT record at the challenge name (or no such name).
    #[error("no TXT record found at {name}")]
    Missing { name: String },
    /// TXT records there, none of them the expected value.
    #[error("the TXT records at {name} do not hold the expected value")]
    Mismatch { name: String },
    /// The resolver failed or did not answer in time: nothing was learnt.
    #[error("the DNS lookup of {name} failed: {reason}")]
    Lookup { name: String, reason: String },
}

impl CheckFailure {
    /// Whether the answer says the record is not there (rather than the
    /// lookup having failed).
    pub fn is_definite(&self) -> bool {
        !matches!(self, CheckFailure::Lookup { .. })
    }
}

/// Asks DNS for domains' proof records.
#[derive(Clone)]
pub struct TxtChecker {
    resolver: TokioResolver,
}

impl std::fmt::Debug for TxtChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxtChecker").finish_non_exhaustive()
    }
}

impl TxtChecker {
    /// A checker asking `server` (UDP and TCP on its port) or, when `None`,
    /// the system's resolvers; each query times out after `timeout`.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, DnsSetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let servers = vec![NameServerConfig::new(addr.ip(), true, vec![udp, tcp])];
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), servers),
                    provider,
                )
            }
            None => Resolver::builder(provider).map_err(|e| DnsSetupError(e.to_string()))?,
        };
        let options = builder.options_mut();
        options.timeout = timeout;
        options.attempts = ATTEMPTS;
        options.cache_size = 0;
        options.ndots = 0;
        options.use_hosts_file = ResolveHosts::Never;
        let resolver = builder.build().map_err(|e| DnsSetupError(e.to_string()))?;
        Ok(TxtChecker { resolver })
    }

    /// Whether `domain`'s challenge name holds the value of `token`.
    pub async fn check(&self, domain: &str, token: &str) -> Result<(), CheckFailure> {
        let name = challenge_name(domain);
        let expected = challenge_value(token);
        // Fully qualified: no search domain is tried.
        let lookup = match self.resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => lookup,
            Err(e) if is_absent(&e) => return Err(CheckFailure::Missing { name }),
            Err(e) => {
                return Err(CheckFailure::Lookup {
                    name,
                    reason: e.to_string(),
                });
            }
        };
        let mut any = false;
        for record in lookup.answers() {
            if let RData::TXT(txt) = &record.data {
                any = true;
                // A long value may be split into several strings: joined,
                // they must be the value exactly.
                let joined: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                if joined == expected.as_bytes() {
                    return Ok(());
                }
            }
        }
        if any {
            Err(CheckFailure::Mismatch { name })
        } else {
            Err(CheckFailure::Missing { name })
        }
    }
}

/// An answer that says there is no such record (rather than a failure).
fn is_absent(e: &NetError) -> bool {
    e.is_no_records_found() || e.is_nx_domain()
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
