//! Refusals a new sign-in cures (a workspace's sign-in policy): the link
//! that signs in as the workspace asks and comes back to the refused
//! request, and the small page a browser gets with it. The page keeps the
//! 403 rather than redirecting, so a sign-in that still falls short is
//! explained once instead of looping through the IdP.

use super::Reply;
use bytes::Bytes;
use wrnexus_contract::headers;
use wrnexus_policies::redirect::encode_query_value;

/// Where a workspace's own IdP signs a person in (the control plane's).
pub const SSO_START_PATH: &str = "/.wrnexus/sso/start";

/// The link that signs in through `workspace_id`'s own IdP, then comes
/// back to `return_to` (the refused request's path and query).
pub fn sso_start_url(workspace_id: &str, return_to: &str) -> String {
    format!(
        "{SSO_START_PATH}?workspace_id={}&return_to={}",
        encode_query_value(workspace_id),
        encode_query_value(return_to)
    )
}

/// The link to the sign-in page, coming back to `return_to`.
pub fn signin_url(return_to: &str) -> String {
    format!(
        "{}?return_to={}",
        super::SIGNIN_PATH,
        encode_query_value(return_to)
    )
}

/// Text for an HTML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Reply {
    /// 403 for a browser whose session the workspace's sign-in policy
    /// refuses: why, and the link that signs in as it asks.
    pub(super) fn sign_in_page(
        title: &str,
        why: &str,
        sign_in_url: &str,
        request_id: &str,
        decision_id: &str,
    ) -> Self {
        let (title, why, url) = (escape(title), escape(why), escape(sign_in_url));
        let body = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"color-scheme\" content=\"light dark\">\
             <title>{title}</title></head>\n<body>\
             <main><h1>{title}</h1><p>{why}</p>\
             <p><a href=\"{url}\">Sign in</a> and come back here.</p></main>\
             </body></html>\n"
        );
        Reply {
            status: 403,
            headers: vec![
                ("content-type", "text/html; charset=utf-8".to_string()),
                ("cache-control", "no-store".to_string()),
                (headers::REQUEST_ID, request_id.to_string()),
                (super::DECISION_ID_HEADER, decision_id.to_string()),
            ],
            body: Bytes::from(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_workspace_and_the_way_back() {
        assert_eq!(
            sso_start_url("w1", "/notes?q=a b&x=1"),
            "/.wrnexus/sso/start?workspace_id=w1&return_to=/notes%3Fq%3Da%20b%26x%3D1"
        );
        assert_eq!(
            signin_url("/n?a=1"),
            "/.wrnexus/signin?return_to=/n%3Fa%3D1"
        );
    }

    #[test]
    fn the_page_escapes_its_link() {
        let reply = Reply::sign_in_page("T", "why <b>", "/a?x=1&y=2", "r1", "d1");
        let body = String::from_utf8_lossy(&reply.body);
        assert!(body.contains("href=\"/a?x=1&amp;y=2\""), "{body}");
        assert!(body.contains("why &lt;b&gt;"), "{body}");
        assert_eq!(reply.status, 403);
    }
}
