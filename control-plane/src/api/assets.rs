//! Static assets of the browser-facing routes: the `<wrnexus-switcher>` web
//! component, served at `/.wrnexus/switcher.js`, and the operator's logo at
//! `/.wrnexus/logo`, each with an `ETag`.

use super::AppState;
use super::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

/// The switcher's source (`control-plane/assets/switcher.js`).
pub const SWITCHER_JS: &str = include_str!("../../assets/switcher.js");

/// Browsers reuse the script for five minutes, then revalidate with the
/// `ETag` (a 304 costs no body); a new release changes the tag.
const CACHE_CONTROL: &str = "public, max-age=300, must-revalidate";

/// A strong entity tag of the switcher's source.
fn switcher_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let mut hasher = DefaultHasher::new();
        SWITCHER_JS.hash(&mut hasher);
        format!("\"{:016x}\"", hasher.finish())
    })
}

/// Whether an `If-None-Match` header names `etag` (or is `*`).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// `GET /.wrnexus/switcher.js`.
pub async fn switcher(headers: HeaderMap) -> Response {
    let etag = switcher_etag();
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if matches(&headers, etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SWITCHER_JS,
    )
        .into_response()
}

/// `GET /.wrnexus/logo`: the operator's logo from `pages_dir` (404 without
/// one). Its own page would run an SVG's scripts on the gateway's origin:
/// the CSP sandboxes it (an `<img>` never runs them).
pub async fn logo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(logo) = state.config.pages.logo() else {
        return ApiError::not_found("logo").into_response();
    };
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(&logo.etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        ),
    ];
    if matches(&headers, &logo.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(logo.content_type),
        )],
        logo.bytes.clone(),
    )
        .into_response()
}
