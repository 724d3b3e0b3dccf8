//! Balancing a route's addresses: each a pingora [`Backend`] carrying the
//! host it was found under and its requests in flight (a [`Lease`] held
//! for the life of a request, returned when it ends however it ends), and
//! the least-connections selector that reads them. Round robin is
//! pingora's own.

use pingora::lb::Backend;
use pingora::lb::selection::{BackendIter, BackendSelection};
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The requests in flight to one address, carried in its [`Backend`]'s
/// extensions so that the hot path needs no lookup.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Requests in flight now.
    pub fn now(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Count one request until the lease is dropped.
    pub fn lease(&self) -> Lease {
        self.0.fetch_add(1, Ordering::Relaxed);
        Lease(self.0.clone())
    }
}

/// One request counted against an address; dropping it (the request's
/// context is dropped when the request ends, failed or not) uncounts it.
#[derive(Debug)]
pub struct Lease(Arc<AtomicUsize>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The upstream host (URL host) an address was found under: its SNI and
/// the health check's `Host`.
#[derive(Debug, Clone)]
pub struct UpstreamHost(pub Arc<str>);

/// The host `backend` was found under.
pub fn upstream_host(backend: &Backend) -> Option<Arc<str>> {
    backend.ext.get::<UpstreamHost>().map(|h| h.0.clone())
}

/// The requests in flight to a backend (0 for one without a counter).
pub fn in_flight(backend: &Backend) -> usize {
    backend.ext.get::<InFlight>().map_or(0, InFlight::now)
}

/// A lease on `backend`'s counter (a counter of its own when it has none).
pub fn lease(backend: &Backend) -> Lease {
    backend
        .ext
        .get::<InFlight>()
        .cloned()
        .unwrap_or_default()
        .lease()
}

/// The counters of a route's addresses, kept across re-resolutions so
/// that an address that stays keeps its count.
#[derive(Debug, Default)]
pub struct Counters {
    by_address: Mutex<HashMap<SocketAddr, InFlight>>,
}

impl Counters {
    /// `addresses` (each with the host it was found under) as backends,
    /// each carrying its counter; counters of addresses no longer listed
    /// are forgotten (leases still held on them stay valid).
    pub fn backends(
        &self,
        addresses: impl IntoIterator<Item = (SocketAddr, Arc<str>)>,
    ) -> BTreeSet<Backend> {
        let mut by_address = match self.by_address.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut kept = HashMap::new();
        let mut backends = BTreeSet::new();
        for (addr, host) in addresses {
            let counter = by_address.remove(&addr).unwrap_or_default();
            let mut backend = Backend {
                addr: PeerAddr::Inet(addr),
                weight: 1,
                ext: Default::default(),
            };
            backend.ext.insert(counter.clone());
            backend.ext.insert(UpstreamHost(host));
            kept.insert(addr, counter);
            backends.insert(backend);
        }
        *by_address = kept;
        backends
    }
}

/// Least connections: the address with the fewest requests in flight
/// first; among equals, each in turn.
pub struct LeastConnections {
    backends: Box<[Backend]>,
    turn: AtomicUsize,
}

impl BackendSelection for LeastConnections {
    type Iter = Ranked;
    type Config = ();

    fn build(backends: &BTreeSet<Backend>) -> Self {
        LeastConnections {
            backends: backends.iter().cloned().collect(),
            turn: AtomicUsize::new(0),
        }
    }

    fn iter(self: &Arc<Self>, _key: &[u8]) -> Ranked {
        let n = self.backends.len();
        let start = match n {
            0 => 0,
            _ => self.turn.fetch_add(1, Ordering::Relaxed) % n,
        };
        let mut order: Vec<(usize, usize)> = (0..n)
            .map(|i| {
                let index = (start + i) % n;
                (in_flight(&self.backends[index]), index)
            })
            .collect();
        // Stable: equals keep their turn order.
        order.sort_by_key(|(count, _)| *count);
        Ranked {
            selector: self.clone(),
            order: order.into_iter().map(|(_, index)| index).collect(),
            next: 0,
        }
    }
}

/// The addresses of [`LeastConnections`] in the order to try them.
pub struct Ranked {
    selector: Arc<LeastConnections>,
    order: Vec<usize>,
    next: usize,
}

impl BackendIter for Ranked {
    fn next(&mut self) -> Option<&Backend> {
        let index = *self.order.get(self.next)?;
        self.next += 1;
        self.selector.backends.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> (SocketAddr, Arc<str>) {
        (
            SocketAddr::from(([127, 0, 0, 1], port)),
            Arc::from("app.internal"),
        )
    }

    fn find(backends: &BTreeSet<Backend>, port: u16) -> Backend {
        let wanted = PeerAddr::Inet(addr(port).0);
        backends.iter().find(|b| b.addr == wanted).cloned().unwrap()
    }

    fn first(selector: &Arc<LeastConnections>) -> Option<Backend> {
        selector.iter(b"").next().cloned()
    }

    fn port(backend: &Option<Backend>) -> Option<u16> {
        backend
            .as_ref()
            .and_then(|b| b.addr.as_inet())
            .map(|a| a.port())
    }

    #[test]
    fn the_idle_address_gets_the_next_request() {
        let counters = Counters::default();
        let backends = counters.backends([addr(1), addr(2), addr(3)]);
        let selector = Arc::new(LeastConnections::build(&backends));
        // All idle: each in turn.
        let turns: Vec<_> = (0..3).map(|_| port(&first(&selector))).collect();
        assert_eq!(turns, [Some(1), Some(2), Some(3)]);

        // Two held on 1, one on 2: 3 is chosen, every time.
        let b1 = find(&backends, 1);
        let b2 = find(&backends, 2);
        assert_eq!(upstream_host(&b1).as_deref(), Some("app.internal"));
        let held = [lease(&b1), lease(&b1), lease(&b2)];
        for _ in 0..5 {
            assert_eq!(port(&first(&selector)), Some(3));
        }
        // The full order: fewest first.
        let mut ranked = selector.iter(b"");
        let mut order = Vec::new();
        while let Some(b) = ranked.next() {
            order.push(b.addr.as_inet().map(|a| a.port()));
        }
        assert_eq!(order, [Some(3), Some(2), Some(1)]);

        // Requests end (however they ended): the counts go back down.
        drop(held);
        assert_eq!(in_flight(&b1), 0);
        assert_eq!(in_flight(&b2), 0);
    }

    #[test]
    fn counts_survive_a_new_address_set() {
        let counters = Counters::default();
        let before = counters.backends([addr(1), addr(2)]);
        let b1 = find(&before, 1);
        let held = lease(&b1);
        let after = counters.backends([addr(1), addr(3)]);
        let again = find(&after, 1);
        assert_eq!(
            in_flight(&again),
            1,
            "an address that stays keeps its count"
        );
        let selector = Arc::new(LeastConnections::build(&after));
        assert_eq!(port(&first(&selector)), Some(3));
        drop(held);
        assert_eq!(in_flight(&again), 0);
        // A backend without a counter still leases (its own).
        let bare = Backend::new("127.0.0.1:9").unwrap();
        let _lease = lease(&bare);
        assert_eq!(in_flight(&bare), 0);
    }

    #[test]
    fn no_addresses_no_choice() {
        let selector = Arc::new(LeastConnections::build(&BTreeSet::new()));
        assert!(first(&selector).is_none());
    }
}
