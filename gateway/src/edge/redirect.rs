//! The plain-HTTP listener beside a TLS one: every request gets a `308` to
//! the same host, path and query over HTTPS (the method and body kept),
//! except ACME HTTP-01 challenges, served from the ACME client's webroot so
//! certificates can be issued and renewed through the gateway itself.

use crate::config::ACME_CHALLENGE_PREFIX;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the redirect listener needs.
#[derive(Debug, Clone)]
pub struct RedirectSite {
    /// The HTTPS listener's port (left out of the URL when 443).
    pub https_port: u16,
    pub acme_webroot: Option<PathBuf>,
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The host of a `Host` value, port dropped; `None` unless it is a plain
/// host name or IP literal (no user info, nothing after the port).
fn host_of(value: &HeaderValue) -> Option<String> {
    let authority: axum::http::uri::Authority = value.to_str().ok()?.parse().ok()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    Some(authority.host().to_ascii_lowercase())
}

/// Where a request is sent: the same URL over HTTPS.
pub fn https_location(site: &RedirectSite, host: &str, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let path = if path.starts_with('/') { path } else { "/" };
    match site.https_port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    }
}

/// An ACME token is base64url: nothing else can name a file.
fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn challenge(webroot: &std::path::Path, token: &str) -> Response {
    if !token_ok(token) {
        return plain(StatusCode::NOT_FOUND, "no such challenge\n");
    }
    let file = webroot
        .join(".well-known")
        .join("acme-challenge")
        .join(token);
    match tokio::fs::read(&file).await {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            body,
        )
            .into_response(),
        Err(_) => plain(StatusCode::NOT_FOUND, "no such challenge\n"),
    }
}

async fn answer(site: Arc<RedirectSite>, request: Request<Body>) -> Response {
    let uri = request.uri();
    if let Some(webroot) = site.acme_webroot.as_deref()
        && let Some(token) = uri.path().strip_prefix(ACME_CHALLENGE_PREFIX)
        && matches!(*request.method(), Method::GET | Method::HEAD)
    {
        return challenge(webroot, token).await;
    }
    let Some(host) = request.headers().get(header::HOST).and_then(host_of) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the request names no host to redirect to (Host)\n",
        );
    };
    // An IPv6 literal keeps its brackets (`Authority::host` has them).
    let location = https_location(&site, &host, uri);
    match HeaderValue::try_from(location) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
            "",
        )
            .into_response(),
        Err(_) => plain(StatusCode::BAD_REQUEST, "the URL cannot be redirected\n"),
    }
}

/// The redirect listener's routes.
pub fn router(site: RedirectSite) -> Router {
    let site = Arc::new(site);
    Router::new().fallback(move |request: Request<Body>| answer(site.clone(), request))
}

/// Serve redirects on `listener` until the process ends.
pub async fn serve(listener: TcpListener, site: RedirectSite) {
    if let Err(e) = axum::serve(listener, router(site)).await {
        tracing::error!(error = %e, "redirect listener failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(port: u16) -> RedirectSite {
        RedirectSite {
            https_port: port,
            acme_webroot: None,
        }
    }

    #[test]
    fn the_location_is_the_same_url_over_https() {
        let uri: Uri = "/a/b?c=1".parse().unwrap();
        assert_eq!(
            https_location(&site(443), "app.example.com", &uri),
            "https://app.example.com/a/b?c=1"
        );
        assert_eq!(
            https_location(&site(8443), "app.example.com", &uri),
            "https://app.example.com:8443/a/b?c=1"
        );
        let absolute: Uri = "http://other.example/x".parse().unwrap();
        assert_eq!(
            https_location(&site(443), "app.example.com", &absolute),
            "https://app.example.com/x"
        );
    }

    #[test]
    fn hosts_are_read_strictly() {
        let host = |v: &'static str| host_of(&HeaderValue::from_static(v));
        assert_eq!(
            host("App.Example.com:80").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host("user@evil.example"), None);
        assert_eq!(host("evil.example/path"), None);
        assert_eq!(host(""), None);
    }

    #[test]
    fn only_base64url_tokens_name_a_file() {
        assert!(token_ok("Zm9v-YmFy_123"));
        for bad in ["", "..", "a/b", "a%2fb", ".hidden", "a b"] {
            assert!(!token_ok(bad), "{bad}");
        }
    }
}
