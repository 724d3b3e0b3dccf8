//! Cookie-authenticated writes to apps are same-origin only (design §10):
//! a request that can change something (any method but GET, HEAD, OPTIONS
//! and TRACE) and is authenticated by the session cookie is refused with
//! 403 `csrf_rejected` when the browser says another origin sent it —
//! `Sec-Fetch-Site` first (only `same-origin` and `none` pass: a sibling
//! subdomain is `same-site`, and the `SameSite=Lax` cookie rides along from
//! it), else `Origin`, else `Referer`, compared with the request's own
//! origin. A request with none of the three is not a browser's and passes;
//! API keys are not cookies and are not checked.

use crate::upstream::forwarded::{TrustedProxies, own_origin};
use http::header::{HeaderMap, HeaderName, ORIGIN, REFERER};
use http::{Method, Uri};
use std::net::IpAddr;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Scheme, lowercase host and port of a URL or an `Origin` value.
fn origin_of(text: &str) -> Option<(String, String, u16)> {
    let uri: Uri = text.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some((scheme, uri.host()?.to_ascii_lowercase(), port))
}

/// The one value of a header as text (`""` when repeated or not text).
fn only(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    let mut all = headers.get_all(name).iter();
    let value = all.next()?;
    if all.next().is_some() {
        return Some("");
    }
    Some(value.to_str().unwrap_or(""))
}

/// Why a cookie-authenticated request looks cross-origin, or `None`.
pub fn cross_origin(
    method: &Method,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    tls: bool,
    trusted: &TrustedProxies,
) -> Option<String> {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return None;
    }
    if let Some(site) = only(headers, SEC_FETCH_SITE) {
        let site = site.trim().to_ascii_lowercase();
        return match site.as_str() {
            "same-origin" | "none" => None,
            _ => Some(format!("the browser says the request is `{site}`")),
        };
    }
    let (name, claimed) = match only(headers, ORIGIN) {
        Some(origin) => ("Origin", origin),
        None => ("Referer", only(headers, REFERER)?),
    };
    let (https, host) = own_origin(headers, peer, tls, trusted);
    let scheme = if https { "https" } else { "http" };
    let ours = host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .and_then(|h| origin_of(&format!("{scheme}://{h}")));
    match (origin_of(claimed), ours) {
        (Some(theirs), Some(ours)) if theirs == ours => None,
        _ => Some(format!("{name} `{claimed}` is not this site's origin")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn refused(method: Method, pairs: &[(&str, &str)]) -> bool {
        cross_origin(
            &method,
            &headers(pairs),
            None,
            false,
            &TrustedProxies::default(),
        )
        .is_some()
    }

    #[test]
    fn cross_origin_writes_are_refused_and_reads_and_tools_pass() {
        let host = ("host", "app.example:8080");
        assert!(refused(
            Method::POST,
            &[host, ("sec-fetch-site", "cross-site")]
        ));
        assert!(refused(
            Method::PUT,
            &[host, ("sec-fetch-site", "same-site")]
        ));
        assert!(!refused(
            Method::POST,
            &[host, ("sec-fetch-site", "same-origin")]
        ));
        assert!(!refused(Method::POST, &[host, ("sec-fetch-site", "none")]));
        assert!(!refused(
            Method::GET,
            &[host, ("sec-fetch-site", "cross-site")]
        ));
        assert!(refused(
            Method::POST,
            &[host, ("origin", "http://evil.example:8080")]
        ));
        assert!(refused(
            Method::POST,
            &[host, ("origin", "https://app.example:8080")]
        ));
        assert!(refused(Method::POST, &[host, ("origin", "null")]));
        assert!(!refused(
            Method::POST,
            &[host, ("origin", "http://APP.example:8080")]
        ));
        assert!(refused(
            Method::DELETE,
            &[host, ("referer", "http://evil.example/x")]
        ));
        assert!(!refused(
            Method::DELETE,
            &[host, ("referer", "http://app.example:8080/p?q")]
        ));
        assert!(!refused(Method::POST, &[host]));
        assert!(!refused(
            Method::POST,
            &[("host", "app.example"), ("origin", "http://app.example:80")]
        ));
    }

    #[test]
    fn over_tls_the_origin_is_https() {
        let over_tls = |origin: &str| {
            let h = headers(&[("host", "app.example"), ("origin", origin)]);
            cross_origin(&Method::POST, &h, None, true, &TrustedProxies::default())
        };
        assert_eq!(over_tls("https://app.example"), None);
        assert_eq!(over_tls("https://app.example:443"), None);
        assert!(over_tls("http://app.example").is_some());
    }
}
