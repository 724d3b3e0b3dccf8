//! `GET /.wrnexus/dev/mail`: the dev mailbox for a person (an HTML list:
//! recipient, subject, time, the text with its links clickable, a link to
//! the HTML body at `/.wrnexus/dev/mail/{id}`) or a program (JSON with
//! `Accept: application/json`). Only `wrnexus dev` has a dev mailbox, and
//! only for someone on this machine (the real client's address, as a
//! trusted gateway reports it, is a loopback one): anywhere else, and to
//! anyone else, these routes are not found.

use super::AppState;
use super::error::ApiError;
use super::meta::RequestMeta;
use super::pages::escape;
use crate::mail::dev_mailbox::{DevMail, DevMailbox};
use crate::store::audit::Meta;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use std::net::IpAddr;

/// The HTML body is shown as sent, but may run no script, load nothing but
/// images, send no form, and be framed by nothing.
const HTML_BODY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; \
     sandbox; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Whether the dev mailbox may be shown to a client at `ip` (the real
/// client's address): only on this machine, since it holds every link
/// mailed (resets, invitations).
fn on_this_machine(ip: Option<&str>) -> bool {
    ip.and_then(|ip| ip.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.to_canonical().is_loopback())
}

fn mailbox<'a>(state: &'a AppState, meta: &Meta) -> Result<&'a DevMailbox, ApiError> {
    state
        .config
        .mail
        .dev_mailbox
        .as_ref()
        .filter(|_| on_this_machine(meta.ip.as_deref()))
        .ok_or_else(|| ApiError::not_found("route"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Never cached: the list changes with every message.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The mailbox, newest first.
pub async fn list(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    headers: HeaderMap,
) -> Response {
    let messages = match mailbox(&state, &meta) {
        Ok(m) => m.messages(),
        Err(e) => return e.into_response(),
    };
    if wants_json(&headers) {
        return no_store(Json(json!({ "messages": messages })).into_response());
    }
    no_store(Html(list_page(&messages)).into_response())
}

/// One message's HTML body (JSON: the whole message).
pub async fn show(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mail = match mailbox(&state, &meta)
        .and_then(|m| m.get(&id).ok_or_else(|| ApiError::not_found("message")))
    {
        Ok(mail) => mail,
        Err(e) => return e.into_response(),
    };
    if wants_json(&headers) {
        return no_store(Json(mail).into_response());
    }
    let mut response = Html(mail.html).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(HTML_BODY_POLICY),
    );
    no_store(response)
}

/// `text` escaped for HTML, its `http(s)://` links made links.
fn linkify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&escape(&rest[..start]));
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ')', ';', ':']);
        let url = escape(url);
        out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
        rest = &tail[url_len(tail, end)..];
    }
    out.push_str(&escape(rest));
    out
}

/// The length of the link at the start of `tail` (up to `end`, without
/// trailing punctuation).
fn url_len(tail: &str, end: usize) -> usize {
    tail[..end]
        .trim_end_matches(['.', ',', ')', ';', ':'])
        .len()
}

fn item(mail: &DevMail) -> String {
    let id = escape(&mail.id);
    format!(
        "<li><article aria-labelledby=\"m-{id}\">\
         <h2 id=\"m-{id}\">{subject}</h2>\
         <p class=\"meta\">To <strong>{to}</strong> · <time datetime=\"{at}\">{at}</time> · \
         <a href=\"/.wrnexus/dev/mail/{id}\">View the HTML version</a></p>\
         <pre>{text}</pre></article></li>",
        subject = escape(&mail.subject),
        to = escape(&mail.to),
        at = escape(&mail.sent_at),
        text = linkify(&mail.text),
    )
}

fn list_page(messages: &[DevMail]) -> String {
    let body = if messages.is_empty() {
        "<p class=\"empty\">No mail yet. Mail sent by this dev server (verification, password reset, \
         invitations, dunning) shows up here.</p>"
            .to_string()
    } else {
        format!("<ol>{}</ol>", messages.iter().map(item).collect::<String>())
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n<meta name=\"robots\" content=\"noindex\">\n\
         <title>Dev mailbox · WRNexus</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Dev mailbox</h1>\n<p class=\"lead\">Mail this <code>wrnexus dev</code> sent, newest first \
         ({count} kept in memory; give <code>--smtp-url</code> to send real mail). \
         <a href=\"/.wrnexus/dev/mail\">Refresh</a></p>\n{body}\n</main>\n</body>\n</html>\n",
        count = messages.len(),
    )
}

const STYLE: &str = "  :root { --accent: #3b5bdb; --bg: #f3f5f9; --card: #fff; --fg: #1d2230; --muted: #5c6475; --border: #d5d9e2; }
  @media (prefers-color-scheme: dark) {
    :root { --bg: #11141b; --card: #1a1f2b; --fg: #e8ebf2; --muted: #a0a8b8; --border: #343b4c; --accent: #6d86f0; }
  }
  body { margin: 0; padding: 1.5rem; background: var(--bg); color: var(--fg);
         font: 15px/1.5 system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif; }
  main { max-width: 48rem; margin: 0 auto; }
  h1 { margin: 0 0 .3rem; } .lead, .meta, .empty { color: var(--muted); }
  ol { list-style: none; padding: 0; }
  article { background: var(--card); border: 1px solid var(--border); border-radius: 12px;
            padding: 1rem 1.25rem; margin: 0 0 1rem; }
  h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
  pre { white-space: pre-wrap; word-break: break-word; font: 14px/1.5 ui-monospace, monospace; }
  a { color: var(--accent); }
  a:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_sees_the_mailbox() {
        for ip in ["127.0.0.1", "127.8.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(on_this_machine(Some(ip)), "{ip}");
        }
        for ip in [
            "192.0.2.7",
            "10.0.0.1",
            "2001:db8::1",
            "::ffff:192.0.2.7",
            "nonsense",
        ] {
            assert!(!on_this_machine(Some(ip)), "{ip}");
        }
        assert!(!on_this_machine(None));
    }

    #[test]
    fn the_html_body_is_sandboxed() {
        for directive in [
            "sandbox",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "default-src 'none'",
        ] {
            assert!(
                HTML_BODY_POLICY.split(';').any(|d| d.trim() == directive),
                "{directive}"
            );
        }
    }

    #[test]
    fn links_are_clickable_and_the_rest_escaped() {
        assert_eq!(
            linkify("Open https://x.example/v?token=a&b=1.\n<b>"),
            "Open <a href=\"https://x.example/v?token=a&amp;b=1\">https://x.example/v?token=a&amp;b=1</a>.\n&lt;b&gt;"
        );
        assert_eq!(linkify("no link"), "no link");
        let page = list_page(&[DevMail {
            id: "m1".into(),
            to: "a@example.com".into(),
            subject: "<Hi>".into(),
            text: "http://h/x".into(),
            html: String::new(),
            sent_at: "2026-12-05T14:00:00Z".into(),
        }]);
        assert!(page.contains("&lt;Hi&gt;"), "{page}");
        assert!(page.contains("<a href=\"http://h/x\">"), "{page}");
        assert!(page.contains("href=\"/.wrnexus/dev/mail/m1\""), "{page}");
    }
}
