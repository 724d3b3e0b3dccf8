//! The session-cookie scan (`wrnexus_gateway::authn::session::session_cookie`) and
//! the JWT header parse: the token found is exactly the value of the one
//! cookie of that name, nothing else is taken for it, what the app is sent
//! no longer holds it, and no token verifies without a key.

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};
use wrnexus_gateway::authn::keys::KeyRing;
use wrnexus_gateway::authn::session::{self, AuthnError, Verifier};
use wrnexus_gateway::upstream::headers::cookies_without;

pub const NAME: &str = "__Host-wrnexus_session";

/// The `name=value` pairs of a `Cookie` value, as RFC 6265 §5.4 splits
/// them (the oracle).
fn pairs(value: &[u8]) -> Vec<(&[u8], &[u8])> {
    value
        .split(|b| *b == b';')
        .filter_map(|pair| {
            let at = pair.iter().position(|b| *b == b'=')?;
            Some((pair[..at].trim_ascii(), pair[at + 1..].trim_ascii()))
        })
        .collect()
}

pub fn check(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);
    let ours: Vec<&[u8]> = pairs(data)
        .into_iter()
        .filter(|(n, _)| *n == NAME.as_bytes())
        .map(|(_, v)| v)
        .collect();
    match session::session_cookie(&headers, NAME) {
        Ok((token, alone)) => {
            assert_eq!(ours.len(), 1, "one session cookie taken from {data:?}");
            // The value, its DQUOTEs (RFC 6265 cookie-value) taken off.
            let start = ours[0].iter().position(|b| *b != b'"').unwrap_or(0);
            let end = ours[0]
                .iter()
                .rposition(|b| *b != b'"')
                .map_or(0, |e| e + 1);
            assert_eq!(
                token,
                ours[0].get(start..end).unwrap_or_default(),
                "the token is not the cookie's value in {data:?}"
            );
            assert!(!token.contains(&b';'), "{data:?}");
            let rest = cookies_without(&headers, NAME);
            if alone {
                assert!(rest.is_none(), "{data:?}: a lone cookie leaves {rest:?}");
            }
            if let Some(rest) = rest.and_then(|r| HeaderValue::from_str(&r).ok()) {
                let mut sent = HeaderMap::new();
                sent.insert(COOKIE, rest);
                assert_eq!(
                    session::session_cookie(&sent, NAME),
                    Err(AuthnError::Missing),
                    "{data:?}: the app would see the session cookie"
                );
            }
            if let Ok(text) = session::token_text(token) {
                // Never a panic on the header, never an allow without a key.
                let _ = jsonwebtoken::decode_header(text);
                let verifier = Verifier::new("wrnexus", "wrnexus");
                assert!(
                    verifier
                        .verify_at(&KeyRing::default(), text, 1_700_000_000)
                        .is_err(),
                    "{data:?} verified with no key"
                );
            }
        }
        Err(AuthnError::DuplicateCookie) => {
            assert!(ours.len() > 1, "{data:?} refused as a duplicate");
        }
        Err(_) => {
            assert!(
                ours.iter().all(|v| v.iter().all(|b| *b == b'"')),
                "{data:?}: a session cookie was overlooked"
            );
        }
    }
}
