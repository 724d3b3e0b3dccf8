//! A route's pool: the peers it hands out (TLS, protocol, timeouts), its
//! balancing, health and re-resolution.

use super::*;
use crate::config::{HealthCheck, Upstream, UpstreamTls};
use crate::upstream::discovery::system_resolver;
use pingora::upstreams::peer::Peer;
use std::collections::BTreeMap;
use std::sync::Mutex;

fn route(urls: &[&str]) -> RouteConfig {
    let upstreams: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
    let mut r = RouteConfig::default_for(Upstream::parse(urls[0]).unwrap());
    r.upstreams = Upstream::parse_list(&upstreams).unwrap();
    r
}

fn pick(pool: &UpstreamPool) -> Option<String> {
    pool.select().map(|(peer, _)| peer.address().to_string())
}

#[test]
fn peers_carry_the_route_timeouts_and_its_tls() {
    let mut r = route(&["https://127.0.0.1:8443"]);
    r.connect_timeout = Some(Duration::from_millis(250));
    r.read_timeout = Some(Duration::from_secs(5));
    r.idle_timeout = Some(Duration::from_secs(30));
    r.reach.tls = UpstreamTls {
        server_name: Some("app.internal".into()),
        ..UpstreamTls::default()
    };
    let pool = UpstreamPool::build(&r, system_resolver()).unwrap();
    let (peer, _lease) = pool.select().unwrap();
    assert_eq!(peer.address().to_string(), "127.0.0.1:8443");
    assert!(peer.is_tls());
    assert_eq!(peer.sni(), "app.internal");
    assert!(peer.options.verify_cert && peer.options.verify_hostname);
    assert_eq!(peer.options.alpn, ALPN::H1);
    assert_eq!(
        peer.options.connection_timeout,
        Some(Duration::from_millis(250))
    );
    assert_eq!(peer.options.read_timeout, Some(Duration::from_secs(5)));
    assert_eq!(peer.options.idle_timeout, Some(Duration::from_secs(30)));
    assert!(peer.options.ca.is_none(), "the system's trust store");
}

#[test]
fn idle_upstream_connections_are_closed_by_default() {
    let pool = UpstreamPool::build(&route(&["http://127.0.0.1:3000"]), system_resolver()).unwrap();
    let (peer, _lease) = pool.select().unwrap();
    assert_eq!(peer.options.idle_timeout, Some(DEFAULT_IDLE_TIMEOUT));
}

#[test]
fn https_peers_send_their_host_as_sni_and_plain_ones_speak_http() {
    let pool = UpstreamPool::build(&route(&["https://localhost:1"]), system_resolver()).unwrap();
    let (peer, _) = pool.select().unwrap();
    assert!(peer.is_tls());
    assert_eq!(
        peer.sni(),
        "localhost",
        "never empty: an empty SNI skips verification"
    );
    let pool = UpstreamPool::build(&route(&["http://127.0.0.1:2"]), system_resolver()).unwrap();
    let (peer, _) = pool.select().unwrap();
    assert!(!peer.is_tls());
}

#[test]
fn h2_routes_speak_h2_over_tls_and_h2c_over_tcp() {
    for (url, tls) in [("https://127.0.0.1:1", true), ("http://127.0.0.1:1", false)] {
        let mut r = route(&[url]);
        r.reach.protocol = Protocol::H2;
        let pool = UpstreamPool::build(&r, system_resolver()).unwrap();
        let (peer, _) = pool.select().unwrap();
        assert_eq!(peer.is_tls(), tls);
        assert_eq!(peer.options.alpn, ALPN::H2, "{url}");
        // h2 only: pingora speaks prior-knowledge h2c to a plain peer
        // whose lowest version is 2.
        assert_eq!(peer.options.alpn.get_min_http_version(), 2);
        assert!(
            peer.options.max_h2_streams > 1,
            "streams share a connection"
        );
    }
}

#[test]
fn routes_keep_their_connections_apart() {
    let mut a = route(&["https://127.0.0.1:1"]);
    a.name = "a".into();
    let mut b = a.clone();
    b.name = "b".into();
    let peer = |r: &RouteConfig| {
        UpstreamPool::build(r, system_resolver())
            .unwrap()
            .select()
            .unwrap()
            .0
    };
    assert_ne!(peer(&a).reuse_hash(), peer(&b).reuse_hash());
}

#[test]
fn round_robin_takes_each_address_in_turn() {
    let pool = UpstreamPool::build(
        &route(&["http://127.0.0.1:1", "http://127.0.0.1:2"]),
        system_resolver(),
    )
    .unwrap();
    let mut seen = BTreeMap::new();
    for _ in 0..10 {
        *seen.entry(pick(&pool).unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            ("127.0.0.1:1".to_string(), 5),
            ("127.0.0.1:2".to_string(), 5)
        ]
    );
}

#[test]
fn least_connections_avoids_the_busy_address() {
    let mut r = route(&["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    r.reach.balance = Balance::LeastConnections;
    let pool = UpstreamPool::build(&r, system_resolver()).unwrap();
    let (busy, held) = pool.select().unwrap();
    for _ in 0..5 {
        let (peer, _done) = pool.select().unwrap();
        assert_ne!(peer.address(), busy.address(), "the busy one was chosen");
    }
    drop(held);
    let both: std::collections::BTreeSet<_> = (0..4).filter_map(|_| pick(&pool)).collect();
    assert_eq!(both.len(), 2, "idle again: both in turn");
}

#[tokio::test]
async fn failing_addresses_leave_the_balance_and_all_failing_is_none() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let open_url = format!("http://127.0.0.1:{open_port}");
    let closed_url = format!("http://127.0.0.1:{closed_port}");
    let mut r = route(&[&open_url, &closed_url]);
    r.reach.health_check = Some(HealthCheck {
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        timeout: Duration::from_millis(500),
        ..HealthCheck::default()
    });
    let pool = UpstreamPool::build(&r, system_resolver()).unwrap();
    assert!(
        pool.states().iter().all(|(_, up)| *up),
        "in balance until checked"
    );
    pool.check_health().await;
    let states: BTreeMap<_, _> = pool.states().into_iter().collect();
    assert!(states[&format!("127.0.0.1:{open_port}")]);
    assert!(!states[&format!("127.0.0.1:{closed_port}")]);
    for _ in 0..6 {
        assert_eq!(pick(&pool), Some(format!("127.0.0.1:{open_port}")));
    }
    drop(open);
    pool.check_health().await;
    assert!(pool.select().is_none(), "every address is out");
}

#[tokio::test]
async fn names_are_resolved_again_on_refresh() {
    let answers = Arc::new(Mutex::new(vec!["10.0.0.1"]));
    let given = answers.clone();
    let resolve: Resolve = Arc::new(move |u: &Upstream| {
        Ok(given
            .lock()
            .unwrap()
            .iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), u.port))
            .collect())
    });
    let pool = UpstreamPool::build(&route(&["https://app.internal:8443"]), resolve).unwrap();
    assert_eq!(pool.resolve_interval(), Some(Duration::from_secs(30)));
    let (peer, _) = pool.select().unwrap();
    assert_eq!(peer.address().to_string(), "10.0.0.1:8443");
    assert_eq!(peer.sni(), "app.internal");
    *answers.lock().unwrap() = vec!["10.0.0.2", "10.0.0.3"];
    pool.refresh().await;
    let seen: std::collections::BTreeSet<_> = (0..6).filter_map(|_| pick(&pool)).collect();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["10.0.0.2:8443", "10.0.0.3:8443"]
    );
    // IP addresses are never resolved again.
    let ips = UpstreamPool::build(&route(&["http://127.0.0.1:1"]), system_resolver()).unwrap();
    assert_eq!(ips.resolve_interval(), None);
}

#[test]
fn bad_settings_name_their_key() {
    let mut r = route(&["http://127.0.0.1:1"]);
    r.reach.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let e = UpstreamPool::build(&r, system_resolver()).unwrap_err();
    assert_eq!(e.key(), "ca_file");
    assert_eq!(check(&r).unwrap_err().key(), "ca_file");
    let mut r = route(&["https://127.0.0.1:1"]);
    r.reach.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let e = check(&r).unwrap_err();
    assert!(
        e.to_string().contains("cannot read `/nonexistent/ca.pem`"),
        "{e}"
    );
    let mut r = route(&["http://127.0.0.1:1"]);
    r.reach.health_check = Some(HealthCheck {
        path: Some("healthz".into()),
        ..HealthCheck::default()
    });
    assert_eq!(check(&r).unwrap_err().key(), "health_check_path");
    let failing: Resolve = Arc::new(|_| Err(std::io::Error::other("NXDOMAIN")));
    let e = UpstreamPool::build(&route(&["http://app.internal:1"]), failing).unwrap_err();
    assert_eq!(e.key(), "upstream");
    assert!(
        e.to_string().contains("`app.internal:1` does not resolve"),
        "{e}"
    );
}
