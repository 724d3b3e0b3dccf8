//! The header contract with upstream apps (design §6): strip every
//! client-supplied copy of the identity set, then add the verified values.

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONNECTION, COOKIE, HeaderName};
use wrnexus_contract::headers;

/// Headers only the gateway may set, or that no client may send an app
/// through it (compared by their letters and digits alone, lowercased:
/// `X_Workspace.Id` and `x-workspaceid` are `x-workspace-id` to frameworks
/// that fold punctuation, so they go too).
pub const IDENTITY_HEADERS: &[&str] = &[
    headers::WORKSPACE_ID,
    headers::USER_ID,
    headers::API_KEY_ID,
    headers::WORKSPACE_ROLE,
    headers::PROJECT_ID,
    headers::REQUEST_ID,
    headers::FORWARDED_FOR,
    headers::FORWARDED_PROTO,
    headers::FORWARDED_HOST,
    "x-real-ip",
    "forwarded",
    headers::ASSERTION,
    // Other ways to tell an app who the client is or where it came from.
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-original-forwarded-for",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    // Ways to make an app read another method or path than the one decided
    // on (Express's method-override, Symfony, IIS and Laminas rewrites).
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
];

/// Names a client may list in `Connection` without them being removed:
/// framing, routing and our own cookie handling are not the client's to
/// switch off (dropping `content-length` would silently empty the body).
const NEVER_CONNECTION_STRIPPED: &[&str] = &[
    "close",
    "keep-alive",
    "upgrade",
    "host",
    "content-length",
    "transfer-encoding",
    "cookie",
    "authorization",
    "connection",
    "te",
    "trailer",
];

/// Our own headers all start with this.
pub const OWN_PREFIX: &str = headers::OWN_PREFIX;

/// A header name as the identity set compares it.
pub fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// A name's letters and digits, lowercased: what is left of it once case
/// and punctuation (`-`, `_`, `.`, any token character) are ignored.
fn squashed(name: &[u8]) -> impl Iterator<Item = u8> + '_ {
    name.iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
}

/// Whether `name` spells `canonical_name` in any case and punctuation,
/// without allocating.
fn spells(name: &[u8], canonical_name: &[u8]) -> bool {
    squashed(name).eq(squashed(canonical_name))
}

/// Whether `name`, case and punctuation ignored, starts with `prefix`'s
/// letters and digits.
fn spells_prefix(name: &[u8], prefix: &[u8]) -> bool {
    let mut name = squashed(name);
    squashed(prefix).all(|p| name.next() == Some(p))
}

fn is_identity(name: &str) -> bool {
    let name = name.as_bytes();
    // Every name of the set starts with `x`, `f` or `t` once punctuation
    // is skipped: most of a request's headers are ruled out at their first
    // byte.
    match name.first() {
        Some(b'x' | b'X' | b'f' | b'F' | b't' | b'T') => {}
        Some(b) if !b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    IDENTITY_HEADERS.iter().any(|h| spells(name, h.as_bytes()))
        || spells_prefix(name, OWN_PREFIX.as_bytes())
}

/// What one pass over a request's fields found: every name to remove
/// (the identity set in any spelling, the end-to-end headers the client
/// lists in `Connection`, and the client's trace context), and whether the
/// fields the rewrite may edit next are there at all, so that it looks up
/// nothing it already knows is absent.
#[derive(Debug, Default)]
pub struct Scan {
    /// Each name once, as the map spells it.
    pub strip: Vec<HeaderName>,
    pub authorization: bool,
    pub cookie: bool,
}

/// The client's `traceparent` and `tracestate` never pass: the gateway
/// sends its own `traceparent`, and no `tracestate`.
fn is_trace_context(name: &HeaderName) -> bool {
    matches!(name.as_str(), "traceparent" | "tracestate")
}

/// Scan `headers` once (a second pass only when `Connection` names
/// headers to drop).
pub fn scan(headers: &HeaderMap) -> Scan {
    let mut found = Scan::default();
    let mut connection = false;
    for name in headers.keys() {
        if name == CONNECTION {
            connection = true;
        } else if name == AUTHORIZATION {
            found.authorization = true;
        } else if name == COOKIE {
            found.cookie = true;
        } else if is_identity(name.as_str()) || is_trace_context(name) {
            found.strip.push(name.clone());
        }
    }
    if connection {
        let named = named_in_connection(headers);
        if !named.is_empty() {
            for name in headers.keys() {
                let listed = named
                    .iter()
                    .any(|n| spells(name.as_str().as_bytes(), n.as_bytes()));
                if listed && !found.strip.contains(name) {
                    found.strip.push(name.clone());
                }
            }
        }
    }
    found
}

/// The names a client lists in `Connection` that may be dropped.
fn named_in_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| canonical(n.trim()))
        .filter(|n| {
            !n.is_empty()
                && !NEVER_CONNECTION_STRIPPED
                    .iter()
                    .any(|kept| spells(n.as_bytes(), kept.as_bytes()))
        })
        .collect()
}

/// Whether a `Set-Cookie` value sets the cookie `name` (compared without
/// regard to case, as browsers compare the `__Host-` prefix), or sets a
/// nameless cookie (`=name=value` is stored without a name and sent back
/// as `name=value`, RFC 6265bis §5.6).
pub fn sets_cookie(value: &http::HeaderValue, name: &str) -> bool {
    let v = value.as_bytes();
    let end = v
        .iter()
        .position(|b| *b == b'=' || *b == b';')
        .unwrap_or(v.len());
    let set = v[..end].trim_ascii();
    set.is_empty() || set.eq_ignore_ascii_case(name.as_bytes())
}

/// Remove an upstream's `Set-Cookie` for the session cookie, keeping its
/// other cookies.
pub fn drop_set_cookie(
    upstream: &mut pingora::http::ResponseHeader,
    cookie_name: &str,
) -> pingora::Result<()> {
    let set = upstream.headers.get_all(http::header::SET_COOKIE);
    if !set.iter().any(|v| sets_cookie(v, cookie_name)) {
        return Ok(());
    }
    let kept: Vec<http::HeaderValue> = set
        .iter()
        .filter(|v| !sets_cookie(v, cookie_name))
        .cloned()
        .collect();
    upstream.remove_header(&http::header::SET_COOKIE);
    for value in kept {
        upstream.append_header(http::header::SET_COOKIE, value)?;
    }
    Ok(())
}

/// The `Cookie` header without the session cookie, or `None` when nothing
/// else is left: upstream apps never see the session token.
pub fn cookies_without(headers: &HeaderMap, cookie_name: &str) -> Option<String> {
    let mut kept = String::new();
    let pairs = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim);
    for pair in pairs {
        let ours = pair
            .split_once('=')
            .is_some_and(|(n, _)| n.trim() == cookie_name);
        if pair.is_empty() || ours {
            continue;
        }
        if !kept.is_empty() {
            kept.push_str("; ");
        }
        kept.push_str(pair);
    }
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_every_spelling_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-workspace-id", HeaderValue::from_static("evil"));
        h.insert("x_user_id", HeaderValue::from_static("evil"));
        h.insert("X_Workspace_Role", HeaderValue::from_static("owner"));
        h.insert("x-wrnexus-anything", HeaderValue::from_static("1"));
        h.insert("x-custom", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert("content-length", HeaderValue::from_static("3"));
        h.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, X-Custom, Content-Length, Content_Length, Host"),
        );
        let names: Vec<String> = scan(&h).strip.iter().map(|n| n.to_string()).collect();
        for name in [
            "x-workspace-id",
            "x_user_id",
            "x_workspace_role",
            "x-wrnexus-anything",
            "x-custom",
        ] {
            assert!(names.contains(&name.to_string()), "{name} kept: {names:?}");
        }
        assert!(!names.contains(&"x-kept".to_string()));
        assert!(
            !names.contains(&"content-length".to_string()),
            "framing stripped: {names:?}"
        );
    }

    #[test]
    fn every_identity_name_is_caught_in_every_spelling() {
        let own = format!("{OWN_PREFIX}anything");
        for name in IDENTITY_HEADERS.iter().copied().chain([own.as_str()]) {
            let upper = name.to_ascii_uppercase();
            let underscored = name.replace('-', "_");
            let dotted = name.replace('-', ".");
            let squashed = name.replace('-', "");
            let mixed = format!("-{}~", name.replacen('-', "_", 1).to_ascii_uppercase());
            for spelling in [
                name,
                upper.as_str(),
                underscored.as_str(),
                dotted.as_str(),
                squashed.as_str(),
                mixed.as_str(),
            ] {
                assert!(is_identity(spelling), "{spelling} not caught");
            }
        }
        assert!(!is_identity("accept"));
        assert!(!is_identity("x-kept"));
        assert!(!is_identity("x-workspace-ids"));
        assert!(!is_identity("forwarded-by"));
        assert!(is_identity("X-HTTP-Method-Override"));
        assert!(is_identity("x_original_url"));
        assert!(is_identity("True-Client-IP"));
        assert!(!is_identity("te"));
    }

    #[test]
    fn recognises_a_set_cookie_for_the_session_cookie() {
        let sets = |v: &str| sets_cookie(&HeaderValue::from_str(v).unwrap(), "__Host-sess");
        assert!(sets("__Host-sess=evil; Path=/; Secure"));
        assert!(sets(" __host-SESS =evil"));
        assert!(sets("__Host-sess"));
        assert!(!sets("__Host-session=1"));
        assert!(sets("=__Host-sess=evil"));
        assert!(sets(" =sess=evil; Path=/"));
        assert!(!sets("theme=__Host-sess"));
    }

    #[test]
    fn removes_only_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; sess=tok; b=2"));
        assert_eq!(cookies_without(&h, "sess").as_deref(), Some("a=1; b=2"));
        h.insert(COOKIE, HeaderValue::from_static("sess=tok"));
        assert_eq!(cookies_without(&h, "sess"), None);
        h.insert(COOKIE, HeaderValue::from_static("flag; sess=tok;  ; c=3"));
        h.append(COOKIE, HeaderValue::from_static("d=4"));
        assert_eq!(
            cookies_without(&h, "sess").as_deref(),
            Some("flag; c=3; d=4")
        );
    }
}
