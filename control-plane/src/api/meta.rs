//! Where a call comes from: request id, client address and user agent, the
//! facts every audit row records.

use crate::store::audit::Meta;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The audit metadata of a request, without an actor yet.
#[derive(Debug, Clone)]
pub struct RequestMeta(pub Meta);

/// A header value fit for a log: printable ASCII, bounded.
fn printable(headers: &HeaderMap, name: &str, max: usize) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()
        && value.len() <= max
        && value.chars().all(|c| c.is_ascii_graphic() || c == ' '))
    .then(|| value.to_string())
}

/// The client address: the peer, or, when the peer is a gateway on this
/// host, the last `X-Forwarded-For` hop (the one the gateway itself added;
/// earlier hops are the client's word).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let forwarded = || {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .next_back()
    };
    match peer {
        Some(ip) if ip.is_loopback() => forwarded().or(Some(ip)),
        other => other,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let request_id = printable(&parts.headers, "x-request-id", 128)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        Ok(RequestMeta(Meta {
            request_id: Some(request_id),
            ip: client_ip(peer, &parts.headers).map(|ip| ip.to_string()),
            user_agent: printable(&parts.headers, "user-agent", 512),
            method: Some(parts.method.as_str().to_string()),
            ..Meta::default()
        }))
    }
}
