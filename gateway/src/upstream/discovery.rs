//! A route's addresses, found again and again: every upstream URL's host
//! resolved (a name may give several addresses, each a backend), IP
//! addresses taken as they are. The first resolution happens at start and
//! must succeed for every name (and is the first answer, given without a
//! runtime); a later one that fails keeps the name's last good addresses
//! and says so. pingora's `Static` resolves once.

use crate::config::Upstream;
use crate::upstream::balance::Counters;
use async_trait::async_trait;
use pingora::lb::Backend;
use pingora::lb::discovery::ServiceDiscovery;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Turns an upstream into its addresses (blocking: called off the runtime's
/// workers). Injected so tests can change the answers.
pub type Resolve = Arc<dyn Fn(&Upstream) -> std::io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The system's resolver (`getaddrinfo`), IP addresses taken as they are.
pub fn system_resolver() -> Resolve {
    Arc::new(|upstream: &Upstream| Ok(upstream.address().to_socket_addrs()?.collect()))
}

/// An upstream whose host gives no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upstream `{address}` does not resolve")]
pub struct Unresolvable {
    pub address: String,
}

/// The discovery of one route's addresses.
pub struct Discovery {
    route: String,
    upstreams: Vec<Upstream>,
    resolve: Resolve,
    /// The last good addresses of each upstream, in `upstreams`' order.
    last: Mutex<Vec<Vec<SocketAddr>>>,
    /// The start's resolution is not yet handed out.
    fresh: AtomicBool,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("route", &self.route)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Resolve every upstream once, now: each must give an address.
    pub fn start(
        route: &str,
        upstreams: &[Upstream],
        resolve: Resolve,
        counters: Arc<Counters>,
    ) -> Result<Self, Unresolvable> {
        let mut first = Vec::with_capacity(upstreams.len());
        for upstream in upstreams {
            let answer = match ip_address(upstream) {
                Some(address) => Ok(vec![address]),
                None => resolve(upstream),
            };
            match answer {
                Ok(addresses) if !addresses.is_empty() => first.push(addresses),
                _ => {
                    return Err(Unresolvable {
                        address: upstream.address(),
                    });
                }
            }
        }
        Ok(Discovery {
            route: route.to_string(),
            upstreams: upstreams.to_vec(),
            resolve,
            last: Mutex::new(first),
            fresh: AtomicBool::new(true),
            counters,
        })
    }

    /// Whether any upstream is named (IP addresses are never resolved again).
    pub fn has_names(&self) -> bool {
        self.upstreams.iter().any(|u| !u.is_ip())
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Vec<Vec<SocketAddr>>> {
        match self.last.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The backends of the last good addresses.
    pub fn current(&self) -> BTreeSet<Backend> {
        let last = self.last().clone();
        self.counters.backends(self.unique(last))
    }

    /// Every address once, in order, with the host it was found under.
    fn unique(&self, lists: Vec<Vec<SocketAddr>>) -> Vec<(SocketAddr, Arc<str>)> {
        let mut seen = HashSet::new();
        let mut addresses = Vec::new();
        for (upstream, list) in self.upstreams.iter().zip(lists) {
            let host: Arc<str> = Arc::from(upstream.host.as_str());
            for address in list {
                if seen.insert(address) {
                    addresses.push((address, host.clone()));
                }
            }
        }
        addresses
    }

    /// Take a round of answers (one per upstream, in order): a good one
    /// replaces that upstream's addresses, a failed or empty one keeps them.
    pub fn apply(&self, answers: Vec<std::io::Result<Vec<SocketAddr>>>) -> BTreeSet<Backend> {
        let snapshot = {
            let mut last = self.last();
            for ((upstream, answer), kept) in
                self.upstreams.iter().zip(answers).zip(last.iter_mut())
            {
                match answer {
                    Ok(addresses) if !addresses.is_empty() => *kept = addresses,
                    Ok(_) => tracing::warn!(
                        route = %self.route,
                        upstream = %upstream.address(),
                        "upstream resolved to no address; keeping the last ones"
                    ),
                    Err(e) => tracing::warn!(
                        route = %self.route,
                        upstream = %upstream.address(),
                        error = %e,
                        "resolving the upstream failed; keeping the last addresses"
                    ),
                }
            }
            last.clone()
        };
        self.counters.backends(self.unique(snapshot))
    }

    /// Resolve every named upstream again (off the runtime's workers).
    async fn resolve_all(&self) -> Vec<std::io::Result<Vec<SocketAddr>>> {
        let mut answers = Vec::with_capacity(self.upstreams.len());
        for upstream in &self.upstreams {
            if let Some(address) = ip_address(upstream) {
                answers.push(Ok(vec![address]));
                continue;
            }
            let (resolve, upstream) = (self.resolve.clone(), upstream.clone());
            let answer = tokio::task::spawn_blocking(move || resolve(&upstream))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            answers.push(answer);
        }
        answers
    }
}

/// The address of an upstream named by its IP address.
fn ip_address(upstream: &Upstream) -> Option<SocketAddr> {
    let ip: std::net::IpAddr = upstream.host.parse().ok()?;
    Some(SocketAddr::new(ip, upstream.port))
}

/// The first call answers the start's resolution at once (the balancer's
/// first update, made before any runtime runs); every later one resolves.
#[async_trait]
impl ServiceDiscovery for Discovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        if self.fresh.swap(false, Ordering::Relaxed) {
            return Ok((self.current(), HashMap::new()));
        }
        let answers = self.resolve_all().await;
        Ok((self.apply(answers), HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn upstream(host: &str) -> Upstream {
        Upstream {
            host: host.into(),
            port: 8080,
            tls: false,
        }
    }

    fn ports(backends: &BTreeSet<Backend>) -> Vec<String> {
        backends.iter().map(|b| b.addr.to_string()).collect()
    }

    /// Answers `app.internal` from a script, one answer per call.
    fn scripted(answers: Vec<std::io::Result<Vec<&'static str>>>) -> (Resolve, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(Mutex::new(answers.into_iter()));
        let counted = calls.clone();
        let resolve: Resolve = Arc::new(move |u: &Upstream| {
            assert_eq!(u.host, "app.internal", "IP addresses are not resolved");
            counted.fetch_add(1, Ordering::SeqCst);
            let next = script.lock().unwrap().next();
            match next {
                Some(Ok(ips)) => Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip.parse().unwrap(), u.port))
                    .collect()),
                Some(Err(e)) => Err(e),
                None => Err(std::io::Error::other("script exhausted")),
            }
        });
        (resolve, calls)
    }

    #[tokio::test]
    async fn names_are_resolved_again_and_a_failure_keeps_the_last_good_set() {
        let (resolve, calls) = scripted(vec![
            Ok(vec!["10.0.0.1"]),
            Ok(vec!["10.0.0.1", "10.0.0.2"]),
            Err(std::io::Error::other("SERVFAIL")),
            Ok(vec![]),
            Ok(vec!["10.0.0.3"]),
        ]);
        let upstreams = [upstream("app.internal"), upstream("192.0.2.9")];
        let discovery = Discovery::start("app", &upstreams, resolve, Arc::default()).unwrap();
        assert!(discovery.has_names());
        // The first answer is the start's, without a lookup.
        let (found, _) = discovery.discover().await.unwrap();
        assert_eq!(ports(&found), ["10.0.0.1:8080", "192.0.2.9:8080"]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A name now giving two addresses gives two backends.
        let (found, _) = discovery.discover().await.unwrap();
        assert_eq!(
            ports(&found),
            ["10.0.0.1:8080", "10.0.0.2:8080", "192.0.2.9:8080"]
        );
        // A failed and an empty answer keep the last good addresses.
        for _ in 0..2 {
            let (found, _) = discovery.discover().await.unwrap();
            assert_eq!(
                ports(&found),
                ["10.0.0.1:8080", "10.0.0.2:8080", "192.0.2.9:8080"]
            );
        }
        let (found, _) = discovery.discover().await.unwrap();
        assert_eq!(ports(&found), ["10.0.0.3:8080", "192.0.2.9:8080"]);
        assert_eq!(calls.load(Ordering::SeqCst), 5, "one lookup per round");
        assert_eq!(
            ports(&discovery.current()),
            ["10.0.0.3:8080", "192.0.2.9:8080"]
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_at_start_is_refused() {
        let (resolve, _) = scripted(vec![Err(std::io::Error::other("NXDOMAIN"))]);
        let refused = Discovery::start("app", &[upstream("app.internal")], resolve, Arc::default())
            .unwrap_err();
        assert_eq!(refused.address, "app.internal:8080");
        let (resolve, _) = scripted(vec![Ok(vec![])]);
        assert!(
            Discovery::start("app", &[upstream("app.internal")], resolve, Arc::default()).is_err()
        );
        let ips = Discovery::start(
            "app",
            &[upstream("127.0.0.1")],
            system_resolver(),
            Arc::default(),
        )
        .unwrap();
        assert!(!ips.has_names());
    }
}
