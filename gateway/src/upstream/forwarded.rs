//! The forwarding headers of the contract with upstream apps (design §6):
//! `X-Forwarded-For/-Proto/-Host` and `X-Request-Id`, where a client's
//! values are kept only when the peer is a configured trusted proxy.

use http::HeaderMap;
use http::header::{HOST, HeaderName, HeaderValue};
use std::net::IpAddr;

pub use crate::upstream::names::{
    X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REQUEST_ID,
};

/// A bad `trusted_proxies` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR block like 10.0.0.0/8")]
pub struct BadProxy(pub String);

/// One IP network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Self, BadProxy> {
        let bad = || BadProxy(text.to_string());
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(value: u128, bits: u8, width: u8) -> u128 {
            if bits == 0 {
                0
            } else {
                value >> (width - bits)
            }
        }
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.bits, 32)
                    == masked(u32::from(ip).into(), self.bits, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), self.bits, 128) == masked(ip.into(), self.bits, 128)
            }
            _ => false,
        }
    }
}

/// The peers whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .map(|e| Cidr::parse(e.as_ref()))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.0.iter().any(|c| c.contains(ip)))
    }
}

/// Longest client-supplied request id kept.
pub const MAX_REQUEST_ID: usize = 128;

/// A request id worth keeping: 1–128 visible ASCII characters, no spaces,
/// quotes or separators that could break a log line or a header list.
pub fn sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

fn joined(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn single(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let value = single_value(headers, name)?;
    value.to_str().ok().map(str::to_string)
}

/// The request id of a request: the client's from a trusted proxy when
/// sane, else `generated`.
pub fn request_id(
    client: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
    generated: String,
) -> String {
    trusted
        .trusts(peer)
        .then(|| single(client, X_REQUEST_ID))
        .flatten()
        .filter(|id| sane_request_id(id))
        .unwrap_or(generated)
}

/// A peer address as text, IPv4 written without `fmt` (this runs on every
/// forwarded request).
fn address_text(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                if octet >= 100 {
                    text.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    text.push(char::from(b'0' + octet / 10 % 10));
                }
                text.push(char::from(b'0' + octet % 10));
            }
            text
        }
        other => other.to_string(),
    }
}

/// The one value of `name`, trimmed, shared with `headers` when it can be.
fn single_value(headers: &HeaderMap, name: HeaderName) -> Option<HeaderValue> {
    let mut all = headers.get_all(name).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let text = first.to_str().ok()?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        None
    } else if trimmed.len() == text.len() {
        Some(first.clone())
    } else {
        HeaderValue::from_str(trimmed).ok()
    }
}

/// The request's own origin as the app will be told it: the scheme
/// (`https` when the client came over TLS to this gateway, or when a
/// trusted proxy says so) and the host (a trusted proxy's
/// `X-Forwarded-Host`, else `Host`), as `X-Forwarded-Proto` and
/// `X-Forwarded-Host` carry them.
pub fn own_origin(
    client: &HeaderMap,
    peer: Option<IpAddr>,
    tls: bool,
    trusted: &TrustedProxies,
) -> (bool, Option<HeaderValue>) {
    let from_proxy = trusted.trusts(peer);
    let https = tls
        || from_proxy
            .then(|| single(client, X_FORWARDED_PROTO))
            .flatten()
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let host = from_proxy
        .then(|| single_value(client, X_FORWARDED_HOST))
        .flatten()
        .or_else(|| single_value(client, HOST));
    (https, host)
}

/// Set the forwarding headers to send upstream on `fields` (the upstream
/// request's, where no client copy of them is left).
pub fn set_forwarding_headers(
    fields: &mut HeaderMap,
    client: &HeaderMap,
    peer: Option<IpAddr>,
    tls: bool,
    trusted: &TrustedProxies,
) {
    let from_proxy = trusted.trusts(peer);
    if let Some(peer) = peer.map(address_text) {
        let chain = from_proxy
            .then(|| joined(client, X_FORWARDED_FOR))
            .flatten();
        let text = match chain {
            Some(chain) => format!("{chain}, {peer}"),
            None => peer,
        };
        // Valid header values joined by ", " and an address: always valid.
        if let Ok(value) = HeaderValue::try_from(text) {
            fields.insert(X_FORWARDED_FOR, value);
        }
    }
    let (https, host) = own_origin(client, peer, tls, trusted);
    let proto = if https { "https" } else { "http" };
    fields.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(host) = host {
        fields.insert(X_FORWARDED_HOST, host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn spoofed() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("app.example.com"));
        h.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.append("x-forwarded-for", HeaderValue::from_static("5.6.7.8"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("public.example"),
        );
        h.insert("x-request-id", HeaderValue::from_static("abc-123"));
        h
    }

    fn get(out: &HeaderMap, name: &str) -> Option<String> {
        let mut all = out.get_all(name).iter();
        let first = all.next().and_then(|v| v.to_str().ok()).map(str::to_string);
        assert!(all.next().is_none(), "{name} set more than once");
        first
    }

    /// The forwarding headers for a request from `peer` with `client`'s fields.
    fn forwarding_headers(
        client: &HeaderMap,
        peer: Option<IpAddr>,
        trusted: &TrustedProxies,
    ) -> HeaderMap {
        let mut out = HeaderMap::new();
        set_forwarding_headers(&mut out, client, peer, false, trusted);
        out
    }

    #[test]
    fn a_client_over_tls_is_https_whoever_it_is() {
        let mut out = HeaderMap::new();
        let mut client = HeaderMap::new();
        client.insert("host", HeaderValue::from_static("app.example.com"));
        client.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        set_forwarding_headers(
            &mut out,
            &client,
            ip("203.0.113.9"),
            true,
            &TrustedProxies::default(),
        );
        assert_eq!(get(&out, "x-forwarded-proto").as_deref(), Some("https"));
    }

    #[test]
    fn addresses_are_written_as_std_writes_them() {
        for text in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "203.0.113.255",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip = ip(text).map(address_text);
            assert_eq!(ip.as_deref(), Some(text));
        }
        assert_eq!(
            ip("::ffff:10.1.2.3").map(address_text).as_deref(),
            Some("10.1.2.3"),
            "v4-mapped peers are written as v4"
        );
        for octet in 0..=255u8 {
            let v4 = IpAddr::from([octet, 0, octet, 1]);
            assert_eq!(address_text(v4), v4.to_string());
        }
    }

    #[test]
    fn parses_and_matches_cidrs() -> Result<(), BadProxy> {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7", "fd00::/8", "0.0.0.0/0"])?;
        assert!(t.trusts(ip("10.200.3.4")));
        assert!(t.trusts(ip("192.168.1.7")));
        assert!(t.trusts(ip("fd12::1")));
        assert!(t.trusts(ip("8.8.8.8")), "0.0.0.0/0 covers every v4");
        assert!(!t.trusts(ip("fe80::1")));
        let t = TrustedProxies::parse(&["10.0.0.0/8"])?;
        assert!(!t.trusts(ip("11.0.0.1")));
        assert!(
            t.trusts(ip("::ffff:10.1.1.1")),
            "v4-mapped peers match v4 blocks"
        );
        assert!(!t.trusts(None));
        for bad in ["10.0.0.0/33", "nope", "::/129", "10.0.0.0/x"] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn untrusted_peers_get_their_values_replaced() {
        let out = forwarding_headers(&spoofed(), ip("203.0.113.9"), &TrustedProxies::default());
        assert_eq!(get(&out, "x-forwarded-for").as_deref(), Some("203.0.113.9"));
        assert_eq!(get(&out, "x-forwarded-proto").as_deref(), Some("http"));
        assert_eq!(
            get(&out, "x-forwarded-host").as_deref(),
            Some("app.example.com")
        );
    }

    #[test]
    fn trusted_proxies_extend_the_chain() -> Result<(), BadProxy> {
        let t = TrustedProxies::parse(&["10.0.0.0/8"])?;
        let out = forwarding_headers(&spoofed(), ip("10.0.0.2"), &t);
        assert_eq!(
            get(&out, "x-forwarded-for").as_deref(),
            Some("1.2.3.4, 5.6.7.8, 10.0.0.2")
        );
        assert_eq!(get(&out, "x-forwarded-proto").as_deref(), Some("https"));
        assert_eq!(
            get(&out, "x-forwarded-host").as_deref(),
            Some("public.example")
        );
        let mut odd = spoofed();
        odd.insert("x-forwarded-proto", HeaderValue::from_static("gopher"));
        let out = forwarding_headers(&odd, ip("10.0.0.2"), &t);
        assert_eq!(get(&out, "x-forwarded-proto").as_deref(), Some("http"));
        Ok(())
    }

    #[test]
    fn request_ids_are_kept_only_from_trusted_proxies_and_sane() -> Result<(), BadProxy> {
        let t = TrustedProxies::parse(&["10.0.0.0/8"])?;
        let gen_id = || "generated".to_string();
        assert_eq!(
            request_id(&spoofed(), ip("10.1.1.1"), &t, gen_id()),
            "abc-123"
        );
        assert_eq!(
            request_id(&spoofed(), ip("9.9.9.9"), &t, gen_id()),
            "generated"
        );
        for bad in ["has space", "a\"b", "", "a,b"] {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(bad) {
                h.insert("x-request-id", v);
            }
            assert_eq!(
                request_id(&h, ip("10.1.1.1"), &t, gen_id()),
                "generated",
                "{bad:?}"
            );
        }
        let mut h = HeaderMap::new();
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        if let Ok(v) = HeaderValue::from_str(&long) {
            h.insert("x-request-id", v);
        }
        assert_eq!(request_id(&h, ip("10.1.1.1"), &t, gen_id()), "generated");
        assert!(sane_request_id(&"a".repeat(MAX_REQUEST_ID)));
        Ok(())
    }
}
