//! What a gateway says about a request — the client's address, the scheme
//! and host the browser used — believed only when the peer is a trusted
//! proxy (design §10). Anyone else's `X-Forwarded-*` is ignored.

use axum::http::uri::{Authority, Uri};
use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use std::net::IpAddr;

/// A bad `trusted_proxies` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR block like 10.0.0.0/8")]
pub struct BadProxy(pub String);

/// The peers (gateways, load balancers) whose forwarding headers are
/// believed. The default is loopback only: the embedded `wrnexus dev`
/// gateway and a gateway on the same host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl Default for TrustedProxies {
    fn default() -> Self {
        Self::loopback()
    }
}

impl TrustedProxies {
    /// Trust no peer: every `X-Forwarded-*` is ignored.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// `127.0.0.0/8` and `::1`.
    pub fn loopback() -> Self {
        TrustedProxies(
            ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        )
    }

    /// Addresses (`10.0.0.7`, `::1`) and blocks (`10.0.0.0/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .map(|e| {
                let text = e.as_ref().trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| BadProxy(text.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    fn trusts_peer(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusts(ip))
    }
}

/// Most `X-Forwarded-For` hops looked at, from the right.
const MAX_HOPS: usize = 32;

/// One `X-Forwarded-For` hop: an address, perhaps with a port.
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The client's address. From an untrusted peer, the peer itself. From a
/// trusted one, `X-Forwarded-For` read right to left: the first hop that
/// is not itself a trusted proxy (each proxy appends the address it saw,
/// so everything left of that hop is the client's own word).
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.trusts(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for text in hops.iter().rev().take(MAX_HOPS) {
        // A hop that is not an address was not written by a proxy we
        // trust: stop at the last one that was.
        let Some(ip) = hop(text).map(|ip| ip.to_canonical()) else {
            break;
        };
        client = ip;
        if !trusted.trusts(ip) {
            break;
        }
    }
    Some(client)
}

/// A web origin: scheme, host and port (default ports filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl Origin {
    fn new(https: bool, authority: &Authority) -> Option<Self> {
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        let (scheme, default) = if https { ("https", 443) } else { ("http", 80) };
        Some(Origin {
            scheme,
            host,
            port: authority.port_u16().unwrap_or(default),
        })
    }

    /// The origin of a URL or an `Origin` header (`null` and non-HTTP
    /// schemes have none).
    pub fn of_url(text: &str) -> Option<Self> {
        let uri: Uri = text.trim().parse().ok()?;
        let https = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Origin::new(https, uri.authority()?)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The first of a header's comma-separated values.
fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

/// The origin the browser addressed: from a trusted gateway its
/// `X-Forwarded-Proto` and `X-Forwarded-Host`; otherwise plain HTTP (the
/// control plane does not terminate TLS) at `Host`.
pub fn own_origin(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    uri: &Uri,
    trusted: &TrustedProxies,
) -> Option<Origin> {
    let forwarded = trusted.trusts_peer(peer);
    let https = forwarded
        && first(headers, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let host = forwarded
        .then(|| first(headers, "x-forwarded-host"))
        .flatten()
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(|h| h.trim().to_string())
        })
        .or_else(|| uri.authority().map(ToString::to_string))?;
    Origin::new(https, &host.parse::<Authority>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn untrusted_peers_speak_for_themselves() {
        let trusted = TrustedProxies::none();
        let h = xff(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let h = xff(&["198.51.100.1, 203.0.113.5", "10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("203.0.113.5"));
        let all_trusted = xff(&["10.9.9.9"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &all_trusted, &trusted),
            ip("10.9.9.9")
        );
        let garbage = xff(&["not-an-address"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &garbage, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33"]),
            Err(BadProxy("10.0.0.0/33".to_string()))
        );
        assert!(TrustedProxies::parse(&["::1", "fd00::/8", "192.168.0.0/16"]).is_ok());
    }

    #[test]
    fn origins_fill_in_default_ports() {
        assert_eq!(
            Origin::of_url("https://Example.com"),
            Origin::of_url("https://example.com:443/path?q")
        );
        assert_ne!(
            Origin::of_url("http://example.com"),
            Origin::of_url("https://example.com")
        );
        assert_eq!(Origin::of_url("null"), None);
    }
}
