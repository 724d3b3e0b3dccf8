//! The request header an app receives (design §6): the client's, without
//! any client-supplied copy of the identity set, the headers the client
//! named in `Connection` or the session cookie, plus the forwarding headers
//! and the verified identity.
//!
//! The header is edited as plain `http` parts, in one pass with capacity
//! reserved once and names known in advance, instead of through pingora's
//! case-preserving setters (which parse each name and grow two maps per
//! insert). Header names therefore reach the app in lowercase, as they do
//! over HTTP/2; HTTP field names are case-insensitive (RFC 9110 §5.1).

use crate::authn::api_key;
use crate::upstream::forwarded::{self, TrustedProxies};
use crate::upstream::headers;
use crate::upstream::identity::{Identity, Who};
use crate::upstream::trace_context;
use http::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderValue};
use pingora::http::RequestHeader;
use pingora::{Error, ErrorType, Result};
use std::net::IpAddr;
use wrnexus_policies::assertion::{
    ASSERTION_ISSUER, ASSERTION_TTL_SECS, AssertionClaims, AssertionKey,
};

pub use crate::upstream::names::{
    X_API_KEY_ID, X_PROJECT_ID, X_REQUEST_ID, X_USER_ID, X_WORKSPACE_ID, X_WORKSPACE_ROLE,
    X_WRNEXUS_ASSERTION,
};

/// Headers the gateway may add: reserved before any is inserted.
const ADDED: usize = 10;

/// What the app is told about a request.
pub struct Forward<'a> {
    pub request_id: &'a str,
    pub client_ip: Option<IpAddr>,
    /// The client came over TLS to this gateway.
    pub tls: bool,
    pub trusted_proxies: &'a TrustedProxies,
    /// The session cookie's name, for requests to an app (the control
    /// plane needs the cookie; apps never see it).
    pub session_cookie: Option<&'a str>,
    /// The session cookie was the only cookie: `Cookie` goes, unparsed.
    pub session_cookie_alone: bool,
    /// The verified identity, for an app route that needs one.
    pub identity: Option<&'a Identity>,
    /// Signs `X-WRNexus-Assertion` for this audience, when configured.
    pub assertion: Option<&'a (AssertionKey, String)>,
    /// The `traceparent` of the gateway's span for this request (the
    /// client's `traceparent` and `tracestate` never pass).
    pub traceparent: Option<&'a str>,
}

fn invalid(e: impl std::fmt::Display) -> Box<Error> {
    Error::explain(
        ErrorType::InvalidHTTPHeader,
        format!("a forwarded header value: {e}"),
    )
}

fn value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).map_err(invalid)
}

fn copy(text: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text).map_err(invalid)
}

/// Edit `header`'s fields as a plain map; method, target, version and
/// extensions are kept as they were.
fn edit_fields<T>(
    header: &mut RequestHeader,
    edit: impl FnOnce(&mut HeaderMap) -> Result<T>,
) -> Result<T> {
    let target = &header.uri;
    let from_uri = target.path_and_query().map(|pq| pq.as_str().as_bytes());
    // A target the URI does not reproduce (absolute-form, not UTF-8) is
    // put back as it was.
    let raw = (from_uri != Some(header.raw_path())).then(|| header.raw_path().to_vec());
    let end_stream = header.send_end_stream();
    let placeholder = RequestHeader::from(http::Request::new(()).into_parts().0);
    let mut parts: http::request::Parts = std::mem::replace(header, placeholder).into();
    let result = edit(&mut parts.headers);
    let mut rebuilt = RequestHeader::from(parts);
    if let Some(raw) = raw {
        rebuilt.set_raw_path(&raw)?;
    }
    if let Some(end) = end_stream {
        rebuilt.set_send_end_stream(end);
    }
    *header = rebuilt;
    result
}

/// Rewrite `upstream` (a copy of the client's `client` header) for the app
/// or the control plane.
pub fn rewrite(upstream: &mut RequestHeader, client: &HeaderMap, forward: &Forward) -> Result<()> {
    edit_fields(upstream, |fields| fill(fields, client, forward))
}

fn fill(fields: &mut HeaderMap, client: &HeaderMap, forward: &Forward) -> Result<()> {
    // One pass finds what goes and what is there: each field below is
    // then edited once, and no absent one is looked up.
    let found = headers::scan(fields);
    for name in &found.strip {
        fields.remove(name);
    }
    fields.try_reserve(ADDED).map_err(|e| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            format!("too many headers: {e}"),
        )
    })?;
    forwarded::set_forwarding_headers(
        fields,
        client,
        forward.client_ip,
        forward.tls,
        forward.trusted_proxies,
    );
    fields.insert(X_REQUEST_ID, copy(forward.request_id)?);
    // The client's `traceparent` and `tracestate` went with the strip.
    if let Some(parent) = forward.traceparent {
        fields.insert(trace_context::TRACEPARENT, copy(parent)?);
    }
    let Some(cookie_name) = forward.session_cookie else {
        return Ok(());
    };
    // An app never sees a WRNexus secret: a key's `Authorization` is
    // consumed like the session cookie (the app's own schemes pass).
    if found.authorization
        && fields
            .get_all(AUTHORIZATION)
            .iter()
            .any(api_key::names_a_key)
    {
        fields.remove(AUTHORIZATION);
    }
    if found.cookie {
        let rest = if forward.session_cookie_alone {
            None
        } else {
            headers::cookies_without(fields, cookie_name)
        };
        match rest {
            Some(rest) => {
                fields.insert(COOKIE, value(rest)?);
            }
            None => {
                fields.remove(COOKIE);
            }
        }
    }
    let Some(identity) = forward.identity else {
        return Ok(());
    };
    fields.insert(X_WORKSPACE_ID, identity.workspace_value().clone());
    let (name, kind) = match &identity.principal {
        Who::User(_) => (X_USER_ID, "user"),
        Who::ApiKey(_) => (X_API_KEY_ID, "api_key"),
    };
    fields.insert(name, identity.principal_value().clone());
    fields.insert(
        X_WORKSPACE_ROLE,
        HeaderValue::from_static(identity.role.as_str()),
    );
    if let Some((_, project)) = &identity.project {
        fields.insert(X_PROJECT_ID, project.clone());
    }
    if let Some((key, audience)) = forward.assertion {
        let iat = crate::authn::token_cache::unix_now();
        let claims = AssertionClaims {
            iss: ASSERTION_ISSUER.to_string(),
            aud: audience.clone(),
            sub: identity.principal_id().to_string(),
            kind: kind.to_string(),
            wid: identity.workspace_id.clone(),
            role: identity.role,
            pid: identity.project.as_ref().map(|(id, _)| id.clone()),
            rid: forward.request_id.to_string(),
            iat,
            exp: iat.saturating_add(ASSERTION_TTL_SECS),
        };
        let token = key.sign(&claims).map_err(|e| {
            Error::explain(
                ErrorType::InternalError,
                format!("signing the assertion: {e}"),
            )
        })?;
        fields.insert(X_WRNEXUS_ASSERTION, value(token)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wrnexus_policies::Role;

    fn client(target: &[u8]) -> Result<RequestHeader> {
        let mut h = RequestHeader::build("GET", target, None)?;
        h.insert_header("Host", "app.example.com")?;
        h.insert_header("X-Workspace-Id", "forged")?;
        h.insert_header("x_user_id", "forged")?;
        h.insert_header("Cookie", "theme=dark; sess=token; lang=en")?;
        h.insert_header("Connection", "keep-alive, X-Secret")?;
        h.insert_header("X-Secret", "hop")?;
        h.insert_header("Accept", "text/plain")?;
        Ok(h)
    }

    fn alice() -> Result<Identity> {
        let alice = wrnexus_policies::Principal::User("u1");
        Identity::new(alice, "w1", Role::Member, Some("s1")).map_err(invalid)
    }

    /// A request from an untrusted peer without an address, no assertion.
    fn forward<'a>(
        request_id: &'a str,
        trusted_proxies: &'a TrustedProxies,
        session_cookie: Option<&'a str>,
        identity: Option<&'a Identity>,
    ) -> Forward<'a> {
        Forward {
            request_id,
            client_ip: None,
            tls: false,
            trusted_proxies,
            session_cookie,
            session_cookie_alone: false,
            identity,
            assertion: None,
            traceparent: None,
        }
    }

    fn rewritten(target: &[u8], forward: &Forward) -> Result<RequestHeader> {
        let original = client(target)?;
        let mut upstream = original.clone();
        rewrite(&mut upstream, &original.headers, forward)?;
        Ok(upstream)
    }

    fn get<'a>(h: &'a RequestHeader, name: &str) -> Vec<&'a str> {
        h.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    #[test]
    fn the_app_gets_verified_identity_and_nothing_forged() -> Result<()> {
        let identity = alice()?;
        let trusted = TrustedProxies::default();
        let forward = Forward {
            client_ip: "203.0.113.9".parse().ok(),
            tls: false,
            ..forward("r1", &trusted, Some("sess"), Some(&identity))
        };
        let h = rewritten(b"/items?x=1", &forward)?;
        assert_eq!(get(&h, "x-workspace-id"), ["w1"]);
        assert_eq!(get(&h, "x-user-id"), ["u1"]);
        assert!(get(&h, "x_user_id").is_empty());
        assert_eq!(get(&h, "x-workspace-role"), ["member"]);
        assert_eq!(get(&h, "x-request-id"), ["r1"]);
        assert_eq!(get(&h, "x-forwarded-for"), ["203.0.113.9"]);
        assert_eq!(get(&h, "x-forwarded-host"), ["app.example.com"]);
        assert_eq!(get(&h, "cookie"), ["theme=dark; lang=en"]);
        assert!(
            get(&h, "x-secret").is_empty(),
            "Connection-named header kept"
        );
        assert_eq!(get(&h, "accept"), ["text/plain"]);
        assert_eq!(get(&h, "host"), ["app.example.com"]);
        assert_eq!(h.raw_path(), b"/items?x=1");
        assert_eq!(h.method, "GET");
        let mut wire = Vec::new();
        h.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8_lossy(&wire);
        assert!(wire.contains("x-workspace-id: w1\r\n"), "{wire}");
        assert!(!wire.contains("forged"), "{wire}");
        Ok(())
    }

    #[test]
    fn the_control_plane_keeps_the_cookie_and_gets_no_identity() -> Result<()> {
        let trusted = TrustedProxies::default();
        let forward = forward("r2", &trusted, None, None);
        let h = rewritten(b"/.wrnexus/whoami", &forward)?;
        assert_eq!(get(&h, "cookie"), ["theme=dark; sess=token; lang=en"]);
        assert!(get(&h, "x-workspace-id").is_empty());
        assert!(get(&h, "x-user-id").is_empty());
        assert_eq!(get(&h, "x-request-id"), ["r2"]);
        Ok(())
    }

    #[test]
    fn a_lone_session_cookie_leaves_no_cookie_header() -> Result<()> {
        let trusted = TrustedProxies::default();
        let identity = alice()?;
        let forward = Forward {
            session_cookie_alone: true,
            ..forward("r4", &trusted, Some("sess"), Some(&identity))
        };
        let mut original = RequestHeader::build("GET", b"/items", None)?;
        original.insert_header("Cookie", "sess=token")?;
        let mut upstream = original.clone();
        rewrite(&mut upstream, &original.headers, &forward)?;
        assert!(get(&upstream, "cookie").is_empty());
        assert_eq!(get(&upstream, "x-user-id"), ["u1"]);
        Ok(())
    }

    #[test]
    fn an_api_key_never_reaches_the_app_but_the_apps_own_credentials_do() -> Result<()> {
        let trusted = TrustedProxies::default();
        let identity = alice()?;
        let to_app = forward("r5", &trusted, Some("sess"), Some(&identity));
        let to_control_plane = forward("r6", &trusted, None, None);
        let key = "wrn_0123456789abcdef_00112233";
        for (value, to_app_kept) in [
            (format!("Bearer {key}"), false),
            (format!("bearer   {key}"), false),
            (
                format!("Basic x, Bearer {}", key.to_ascii_uppercase()),
                false,
            ),
            ("Bearer wrn_".to_string(), false),
            ("Bearer eyJhbGciOi.app-token".to_string(), true),
            ("Basic dXNlcjpwdw==".to_string(), true),
        ] {
            let mut original = RequestHeader::build("GET", b"/items", None)?;
            original.insert_header("Authorization", value.as_str())?;
            let mut upstream = original.clone();
            rewrite(&mut upstream, &original.headers, &to_app)?;
            let kept = !get(&upstream, "authorization").is_empty();
            assert_eq!(kept, to_app_kept, "{value}");
            let mut upstream = original.clone();
            rewrite(&mut upstream, &original.headers, &to_control_plane)?;
            assert_eq!(get(&upstream, "authorization"), [value.as_str()]);
        }
        Ok(())
    }

    #[test]
    fn a_target_the_uri_does_not_reproduce_is_kept() -> Result<()> {
        let trusted = TrustedProxies::default();
        let forward = forward("r3", &trusted, Some("sess"), None);
        let h = rewritten(b"http://app.example.com/a?b=1", &forward)?;
        assert_eq!(h.raw_path(), b"http://app.example.com/a?b=1");
        assert_eq!(h.uri.path(), "/a");
        assert_eq!(get(&h, "cookie"), ["theme=dark; lang=en"]);
        Ok(())
    }

    #[test]
    fn the_gateways_traceparent_replaces_the_clients() -> Result<()> {
        let trusted = TrustedProxies::default();
        let ours = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let traced = Forward {
            traceparent: Some(ours),
            ..forward("r9", &trusted, None, None)
        };
        let mut original = RequestHeader::build("GET", b"/items", None)?;
        original.insert_header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )?;
        original.insert_header("tracestate", "vendor=secret")?;
        let mut upstream = original.clone();
        rewrite(&mut upstream, &original.headers, &traced)?;
        assert_eq!(get(&upstream, "traceparent"), [ours]);
        assert!(get(&upstream, "tracestate").is_empty());
        let untraced = forward("r10", &trusted, None, None);
        let mut upstream = original.clone();
        rewrite(&mut upstream, &original.headers, &untraced)?;
        assert!(get(&upstream, "traceparent").is_empty());
        Ok(())
    }
}
