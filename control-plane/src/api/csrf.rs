//! Cookie-authenticated writes are same-origin only (design §10). A request
//! that can change something (any method but GET, HEAD, OPTIONS, TRACE) and
//! that a browser could have sent on another site's behalf is refused with
//! 403 `csrf_rejected` when the browser says it is cross-origin:
//!
//! 1. `Sec-Fetch-Site`: only `same-origin` and `none` (typed or bookmarked)
//!    pass; `same-site` is refused too, since a sibling subdomain is another
//!    origin and the `SameSite=Lax` cookie still rides along from it.
//! 2. Else `Origin`, compared with the request's own origin (scheme, host,
//!    port) as a trusted gateway forwards it ([`super::forwarded`]).
//! 3. Else `Referer`'s origin, compared the same way.
//!
//! A request with none of the three is not from a browser and passes. Not
//! checked: requests carrying `Authorization: Bearer` (API keys, operator
//! and gateway tokens, session tokens held by scripts — a page on another
//! site cannot add that header without the control plane's consent, and
//! then no cookie authenticates the request) and Stripe's signed webhooks.
//! Sign-in and sign-up have no session yet and are checked all the same, so
//! no other site can sign a browser into an account of its choosing.

use super::AppState;
use super::error::ApiError;
use super::forwarded::{Origin, own_origin};
use super::meta::peer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wrnexus_contract::ProblemCode;

/// Routes authenticated by their own signature, never by a cookie.
const SIGNED_ROUTES: &[&str] = &[
    "/v1/billing/stripe/webhook",
    "/.wrnexus/api/v1/billing/stripe/webhook",
    "/.wrnexus/sso/backchannel-logout/{connection_id}",
    "/.wrnexus/sso/backchannel-logout/instance/{name}",
];

/// Whether a browser could have made `request` carry the session cookie
/// (or, at sign-in, receive one) on another site's behalf.
fn needs_check(request: &Request) -> bool {
    if request.method().is_safe() {
        return false;
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let signed = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| SIGNED_ROUTES.contains(&p.as_str()));
    !bearer && !signed
}

/// A header's value as text, if it has exactly one.
fn only(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    let mut all = headers.get_all(name).iter();
    let value = all.next()?;
    if all.next().is_some() {
        return Some("");
    }
    Some(value.to_str().unwrap_or(""))
}

/// Why a request looks cross-origin, or `None` when it does not.
fn refusal(headers: &HeaderMap, own: impl FnOnce() -> Option<Origin>) -> Option<String> {
    if let Some(site) = only(headers, header::HeaderName::from_static("sec-fetch-site")) {
        let site = site.trim().to_ascii_lowercase();
        return match site.as_str() {
            "same-origin" | "none" => None,
            _ => Some(format!("Sec-Fetch-Site `{site}`")),
        };
    }
    let (name, claimed) = match only(headers, header::ORIGIN) {
        Some(origin) => ("Origin", origin),
        None => ("Referer", only(headers, header::REFERER)?),
    };
    // Only the origin claimed is told, never the rest of the URL: a
    // Referer's path and query may hold a link's token.
    match (Origin::of_url(claimed), own()) {
        (Some(theirs), Some(ours)) if theirs == ours => None,
        (theirs, ours) => Some(format!(
            "{name} origin `{}` is not this origin ({})",
            theirs.map_or_else(|| "none readable".to_string(), |o| o.to_string()),
            ours.map_or_else(|| "unknown".to_string(), |o| o.to_string()),
        )),
    }
}

/// The middleware: let same-origin and non-browser writes through.
pub async fn same_origin_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !needs_check(&request) {
        return next.run(request).await;
    }
    let own = || {
        own_origin(
            peer(request.extensions()),
            request.headers(),
            request.uri(),
            &state.config.trusted_proxies,
        )
    };
    match refusal(request.headers(), own) {
        None => next.run(request).await,
        Some(why) => {
            // The route's template, not the path: a path may hold a token
            // (`/invitations/{token}/accept`).
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", |p| p.as_str());
            tracing::info!(
                method = %request.method(),
                route = %route,
                why = %why,
                "cross-origin write refused"
            );
            ApiError::new(
                StatusCode::FORBIDDEN,
                ProblemCode::CsrfRejected,
                "this request came from another site: changes are accepted only \
                 from pages of this origin",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ours() -> Option<Origin> {
        Origin::of_url("https://app.example.com")
    }

    #[test]
    fn fetch_metadata_decides_first() {
        for (site, refused) in [
            ("same-origin", false),
            ("none", false),
            ("same-site", true),
            ("cross-site", true),
            ("nonsense", true),
        ] {
            let h = headers(&[
                ("sec-fetch-site", site),
                ("origin", "https://app.example.com"),
            ]);
            assert_eq!(refusal(&h, ours).is_some(), refused, "{site}");
        }
    }

    #[test]
    fn origin_then_referer() {
        let same = headers(&[("origin", "https://app.example.com:443")]);
        assert_eq!(refusal(&same, ours), None);
        let other = headers(&[("origin", "https://evil.example.com")]);
        assert!(refusal(&other, ours).is_some());
        let null = headers(&[("origin", "null")]);
        assert!(refusal(&null, ours).is_some());
        let plain = headers(&[("origin", "http://app.example.com")]);
        assert!(refusal(&plain, ours).is_some());
        let referer = headers(&[("referer", "https://app.example.com/settings?x=1")]);
        assert_eq!(refusal(&referer, ours), None);
        let foreign = headers(&[("referer", "https://evil.example/")]);
        assert!(refusal(&foreign, ours).is_some());
        assert_eq!(refusal(&HeaderMap::new(), ours), None);
        assert!(refusal(&same, || None).is_some());
    }

    /// What is logged of a foreign Referer is its origin: never its path
    /// or query, which may hold a link's token.
    #[test]
    fn a_refusal_tells_only_the_referers_origin() {
        let foreign = headers(&[(
            "referer",
            "https://evil.example/.wrnexus/reset-password?token=s3cret-token",
        )]);
        let why = refusal(&foreign, ours).unwrap_or_default();
        assert!(why.contains("https://evil.example"), "{why}");
        assert!(
            !why.contains("s3cret") && !why.contains("reset-password"),
            "{why}"
        );
        let odd = headers(&[("referer", "not a url ?token=s3cret-token")]);
        let why = refusal(&odd, ours).unwrap_or_default();
        assert!(!why.is_empty() && !why.contains("s3cret"), "{why}");
    }
}
