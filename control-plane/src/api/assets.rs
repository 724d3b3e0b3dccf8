//! Static assets of the browser-facing routes: the `<wrnexus-switcher>` web
//! component, served at `/.wrnexus/switcher.js` with an `ETag`.

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
