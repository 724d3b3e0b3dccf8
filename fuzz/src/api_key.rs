//! The API key parse (`wrnexus_gateway::authn::api_key`): a key is taken only from
//! a `Bearer` authorization, its parts are exactly the token's, and any
//! value that carries a key is consumed before the app.

use crate::{headers, oracle};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};
use wrnexus_gateway::authn::api_key::{names_a_key, presented};

pub fn check(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut map = HeaderMap::new();
    map.insert(AUTHORIZATION, value.clone());
    if let Some(Ok(key)) = presented(&map) {
        assert_eq!(
            key.token,
            format!("wrn_{}_{}", key.id, key.secret),
            "{data:?}"
        );
        assert!(
            data.windows(key.token.len())
                .any(|w| w == key.token.as_bytes()),
            "{data:?}"
        );
        assert!(names_a_key(&value), "{data:?} presents a key not consumed");
    }
    assert_eq!(names_a_key(&value), oracle::carries_key(data), "{data:?}");
    // Through the gateway, the value reaches the app only without a key.
    if let Some(upstream) = headers::forwarded(&[(AUTHORIZATION, value)]) {
        let kept = upstream.headers.get(AUTHORIZATION);
        assert_eq!(kept.is_some(), !oracle::carries_key(data), "{data:?}");
    }
}
