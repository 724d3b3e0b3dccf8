//! The header contract (`wrnexus_gateway::upstream::request::rewrite`): an
//! app receives the gateway's identity headers only, whatever the client
//! spelled, and no WRNexus credential.

use crate::oracle;
use http::header::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use wrnexus_gateway::upstream::forwarded::TrustedProxies;
use wrnexus_gateway::upstream::identity::Identity;
use wrnexus_gateway::upstream::request::{Forward, rewrite};
use wrnexus_policies::{Principal, Role};

const COOKIE_NAME: &str = "__Host-wrnexus_session";
/// Values only the gateway writes (the identity below).
const OURS: &[&str] = &["w-gateway", "u-gateway", "r-gateway", "member"];

/// `name: value` lines, as a client could send them.
fn client_headers(data: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    data.split(|b| *b == b'\n')
        .filter_map(|line| {
            let at = line.iter().position(|b| *b == b':')?;
            let name = HeaderName::from_bytes(line[..at].trim_ascii()).ok()?;
            let value = HeaderValue::from_bytes(line[at + 1..].trim_ascii()).ok()?;
            Some((name, value))
        })
        .collect()
}

/// The request an app receives for a client request with `headers`.
pub fn forwarded(headers: &[(HeaderName, HeaderValue)]) -> Option<RequestHeader> {
    let mut client = RequestHeader::build("GET", b"/app", None).ok()?;
    for (name, value) in headers {
        client.append_header(name.clone(), value.clone()).ok()?;
    }
    let identity = Identity::new(
        Principal::User("u-gateway"),
        "w-gateway",
        Role::Member,
        Some("s"),
    )
    .ok()?;
    let trusted = TrustedProxies::default();
    let forward = Forward {
        request_id: "r-gateway",
        client_ip: None,
        tls: false,
        trusted_proxies: &trusted,
        session_cookie: Some(COOKIE_NAME),
        session_cookie_alone: false,
        identity: Some(&identity),
        assertion: None,
        traceparent: None,
    };
    let mut upstream = client.clone();
    rewrite(&mut upstream, &client.headers, &forward).ok()?;
    Some(upstream)
}

pub fn check(data: &[u8]) {
    let sent = client_headers(data);
    let Some(upstream) = forwarded(&sent) else {
        return;
    };
    for (name, value) in upstream.headers.iter() {
        let text = String::from_utf8_lossy(value.as_bytes());
        if oracle::is_identity(name.as_str()) {
            // Only the gateway's own values.
            let forwarded_for = matches!(
                oracle::folded(name.as_str()).as_str(),
                "xforwardedfor" | "xforwardedhost" | "xforwardedproto"
            );
            assert!(
                forwarded_for || OURS.contains(&text.as_ref()),
                "the app got {name}: {text} from {data:?}"
            );
            assert_eq!(
                upstream.headers.get_all(name).iter().count(),
                1,
                "{name} twice from {data:?}"
            );
        }
        if name == http::header::AUTHORIZATION {
            assert!(
                !oracle::carries_key(value.as_bytes()),
                "a key reached the app from {data:?}"
            );
        }
        if name == http::header::COOKIE {
            let session = text
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .any(|(n, _)| n.trim() == COOKIE_NAME);
            assert!(!session, "the session reached the app from {data:?}");
        }
    }
    // Each identity header of the set names what the gateway decided.
    let get = |n: &str| upstream.headers.get(n).map(|v| v.as_bytes().to_vec());
    assert_eq!(
        get("x-workspace-id"),
        Some(b"w-gateway".to_vec()),
        "{data:?}"
    );
    assert_eq!(get("x-user-id"), Some(b"u-gateway".to_vec()), "{data:?}");
    assert_eq!(
        get("x-workspace-role"),
        Some(b"member".to_vec()),
        "{data:?}"
    );
}
