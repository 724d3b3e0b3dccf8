//! Responses the gateway makes itself (design §7), as RFC 9457 problem+json,
//! or a redirect to sign-in for browsers.

use bytes::Bytes;
use http::HeaderMap;
use http::header::ACCEPT;
use serde_json::json;
use wrnexus_policies::redirect::encode_query_value;

/// The sign-in page, served by the control plane through the gateway.
pub const SIGNIN_PATH: &str = "/.wrnexus/signin";
/// The header naming a decision.
pub const DECISION_ID_HEADER: &str = "x-wrnexus-decision-id";

/// A response the gateway writes without asking the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    /// A problem+json answer with a stable `code`.
    pub fn problem(
        status: u16,
        code: &str,
        detail: &str,
        decision_id: Option<&str>,
        request_id: &str,
    ) -> Self {
        let title = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let mut body = json!({
            "type": format!("/.wrnexus/problems/{code}"),
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
            "request_id": request_id,
        });
        let mut headers = vec![("content-type", "application/problem+json".to_string())];
        if let Some(id) = decision_id {
            body["decision_id"] = json!(id);
            headers.push((DECISION_ID_HEADER, id.to_string()));
        }
        Reply {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    /// 302 to the sign-in page, coming back to `path_and_query` afterwards.
    pub fn to_signin(path_and_query: &str) -> Self {
        let location = format!(
            "{SIGNIN_PATH}?return_to={}",
            encode_query_value(path_and_query)
        );
        Reply {
            status: 302,
            headers: vec![
                ("location", location),
                ("content-type", "text/plain; charset=utf-8".to_string()),
                ("cache-control", "no-store".to_string()),
            ],
            body: Bytes::from_static(b"sign in first\n"),
        }
    }
}

/// Whether the client is a browser asking for a page.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signin_redirect_keeps_the_page() {
        let r = Reply::to_signin("/w/1/page?q=a b&x=1");
        assert_eq!(r.status, 302);
        assert_eq!(
            r.headers[0].1,
            "/.wrnexus/signin?return_to=/w/1/page%3Fq%3Da%20b%26x%3D1"
        );
    }

    #[test]
    fn problems_carry_code_and_decision() -> Result<(), serde_json::Error> {
        let r = Reply::problem(403, "forbidden", "no", Some("d1"), "r1");
        let body: serde_json::Value = serde_json::from_slice(&r.body)?;
        assert_eq!(body["code"], "forbidden");
        assert_eq!(body["decision_id"], "d1");
        assert!(r.headers.contains(&(DECISION_ID_HEADER, "d1".to_string())));
        Ok(())
    }
}
