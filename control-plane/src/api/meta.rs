//! Where a call comes from: request id, client address and user agent, the
//! facts every audit row records. The address is the real client's, as
//! trusted gateways report it ([`super::forwarded`]).

use super::AppState;
use super::forwarded::client_ip;
use crate::store::audit::Meta;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use wrnexus_contract::headers::REQUEST_ID;

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

/// The peer of the connection a request came on (from its extensions).
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(
            peer(&parts.extensions),
            &parts.headers,
            &state.config.trusted_proxies,
        );
        let request_id = printable(&parts.headers, REQUEST_ID, 128)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        Ok(RequestMeta(Meta {
            request_id: Some(request_id),
            ip: ip.map(|ip| ip.to_string()),
            user_agent: printable(&parts.headers, "user-agent", 512),
            method: Some(parts.method.as_str().to_string()),
            ..Meta::default()
        }))
    }
}
