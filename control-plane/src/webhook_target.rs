//! Where outbound webhooks may go: the address classes a server-side fetch
//! must never reach (loopback, private, link-local, CGNAT, multicast,
//! unspecified, broadcast, reserved, cloud metadata — in IPv4, IPv6, and
//! IPv4 embedded in IPv6), unless an operator allows the network.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    Private,
    LinkLocal,
    /// 100.64.0.0/10, the carrier-grade NAT shared address space.
    SharedCgnat,
    Multicast,
    Unspecified,
    Broadcast,
    /// Not routable on the internet (240.0.0.0/4, 192.0.0.0/24, 198.18.0.0/15).
    Reserved,
    /// A cloud provider's instance metadata service.
    CloudMetadata,
}

impl AddressClass {
    /// The class as a phrase, e.g. `a loopback address`.
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::SharedCgnat => "a shared (CGNAT) address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Broadcast => "a broadcast address",
            AddressClass::Reserved => "a reserved address",
            AddressClass::CloudMetadata => "a cloud metadata address",
        }
    }
}

/// A webhook target the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`url` {}{address}, {}; webhooks may not reach such addresses unless an operator allows the network (`webhook_allow_networks`)",
    match host { Some(h) => format!("host `{h}` resolves to "), None => "points at ".to_string() },
    class.describe()
)]
pub struct TargetForbidden {
    /// The name that resolved to `address`, when the URL named a host.
    pub host: Option<String>,
    pub address: IpAddr,
    pub class: AddressClass,
}

/// An operator's allowed network that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a network like `10.1.0.0/16`, `fd00::/8` or an address")]
pub struct BadNetwork(pub String);

/// Parse CIDRs (or bare addresses, as one-address networks); blank items
/// are skipped.
pub fn parse_networks<S: AsRef<str>>(items: &[S]) -> Result<Vec<IpNet>, BadNetwork> {
    items
        .iter()
        .map(|item| item.as_ref().trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| BadNetwork(s.to_string()))
        })
        .collect()
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4
/// (`2002:aabb:ccdd::`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = v6.octets();
    let v4 = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    match v6.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(v4(12)),
        [0x2002, ..] => Some(v4(2)),
        _ => None,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let metadata = [
        Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, …
        Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
        Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
    ];
    if metadata.contains(&ip) {
        return Some(CloudMetadata);
    }
    let class = if ip == Ipv4Addr::BROADCAST {
        Broadcast
    } else if in_v4(ip, [0, 0, 0, 0], 8) {
        // 0.0.0.0 reaches the local host on Linux.
        Unspecified
    } else if ip.is_loopback() {
        Loopback
    } else if ip.is_private() {
        Private
    } else if ip.is_link_local() {
        LinkLocal
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        SharedCgnat
    } else if ip.is_multicast() {
        Multicast
    } else if in_v4(ip, [240, 0, 0, 0], 4)
        || in_v4(ip, [192, 0, 0, 0], 24)
        || in_v4(ip, [198, 18, 0, 0], 15)
    {
        Reserved
    } else {
        return None;
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let s = ip.segments();
    if ip.is_unspecified() {
        Some(Unspecified)
    } else if ip.is_loopback() {
        Some(Loopback)
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some(CloudMetadata)
    } else if let Some(v4) = embedded_v4(ip) {
        classify_v4(v4)
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        // Unique local (fc00::/7) and the old site-local (fec0::/10).
        Some(Private)
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(LinkLocal)
    } else if ip.is_multicast() {
        Some(Multicast)
    } else {
        None
    }
}

/// The class of a non-public address; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Which addresses webhooks may reach: public ones, and any in the
/// operator's allowed networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    allow: Vec<IpNet>,
}

impl TargetPolicy {
    pub fn new(allow: Vec<IpNet>) -> Self {
        TargetPolicy { allow }
    }

    /// Whether `ip` is in one of the operator's allowed networks.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow
            .iter()
            .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
    }

    /// Refuse `ip` unless it is public or allowed; `host` is the name it
    /// came from, for the message.
    pub fn check(&self, host: Option<&str>, ip: IpAddr) -> Result<(), TargetForbidden> {
        match classify(ip) {
            Some(class) if !self.allowed(ip) => Err(TargetForbidden {
                host: host.map(str::to_string),
                address: ip,
                class,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<AddressClass> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn every_class_is_recognised() {
        use AddressClass::*;
        for (addr, expected) in [
            ("127.0.0.1", Some(Loopback)),
            ("127.255.1.2", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("169.254.1.1", Some(LinkLocal)),
            ("169.254.169.254", Some(CloudMetadata)),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("224.0.0.1", Some(Multicast)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fe80::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("fd00:ec2::254", Some(CloudMetadata)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(CloudMetadata)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::127.0.0.1", Some(Loopback)),
            ("::169.254.169.254", Some(CloudMetadata)),
            ("64:ff9b::10.0.0.1", Some(Private)),
            ("2002:7f00:1::", Some(Loopback)),
            // Public.
            ("93.184.215.14", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
            ("::ffff:93.184.215.14", None),
        ] {
            assert_eq!(class(addr), expected, "{addr}");
        }
    }

    #[test]
    fn allowed_networks_let_addresses_through() {
        let policy = TargetPolicy::new(parse_networks(&["127.0.0.0/8", "fd00::/8"]).unwrap());
        assert!(policy.check(None, "127.0.0.1".parse().unwrap()).is_ok());
        assert!(
            policy
                .check(None, "::ffff:127.0.0.1".parse().unwrap())
                .is_ok()
        );
        assert!(policy.check(None, "fd00::5".parse().unwrap()).is_ok());
        let refused = policy.check(Some("db"), "10.0.0.1".parse().unwrap());
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err(
                "`url` host `db` resolves to 10.0.0.1, a private address; webhooks may not \
                 reach such addresses unless an operator allows the network \
                 (`webhook_allow_networks`)"
                    .to_string()
            )
        );
        assert!(
            TargetPolicy::default()
                .check(None, "8.8.8.8".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn networks_parse_or_name_the_bad_one() {
        assert_eq!(
            parse_networks(&["10.0.0.0/8", " 192.168.1.5 "]).unwrap(),
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "192.168.1.5/32".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_networks(&["10.0.0.0/33"]),
            Err(BadNetwork("10.0.0.0/33".into()))
        );
    }
}
