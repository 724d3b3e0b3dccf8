//! Every response the gateway makes itself, as a table: a request (method,
//! target, credential, headers) → the status and `code` the client gets.
//! Each one is problem+json carrying the request's id (the redirect to
//! sign-in aside), none says `Server: Pingora`, and none reached the app —
//! a dead upstream's 502 and a slow one's 504 included.

use axum::Router;
use serde_json::Value;
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{self, COOKIE_NAME, User, http, raw_exchange, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// Who the request is from.
#[derive(Clone, Copy, Debug)]
enum Credential {
    None,
    /// The member's session cookie.
    Member,
    /// The cookie twice.
    MemberTwice,
    /// A cookie that is no token.
    Forged,
    /// The member's workspace's API key.
    Key,
    /// `Bearer wrn_…` that is no key.
    BadKey,
}

/// One row: what is sent, and what must come back.
struct Case {
    name: &'static str,
    method: &'static str,
    target: &'static str,
    credential: Credential,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    code: &'static str,
}

const fn case(
    name: &'static str,
    method: &'static str,
    target: &'static str,
    credential: Credential,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method,
        target,
        credential,
        headers,
        status,
        code,
    }
}

const JSON: (&str, &str) = ("Accept", "application/json");

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("length and chunked", "POST", "/app/x", Credential::Member,
        &[JSON, ("Transfer-Encoding", "chunked"), ("Content-Length", "0")], 400, "conflicting_framing"),
    case("two authorizations", "GET", "/app/x", Credential::Key,
        &[JSON, ("Authorization", "Bearer other")], 400, "duplicate_authorization"),
    case("dot segment", "GET", "/app/x/%2e%2e/admin", Credential::Member, &[JSON], 400, "ambiguous_path"),
    case("workspace segment", "GET", "/w/abc.json/x", Credential::Member, &[JSON], 400, "ambiguous_path"),
    case("no route", "GET", "/nowhere", Credential::Member, &[JSON], 404, "no_route"),
    case("no session", "GET", "/app/x", Credential::None, &[JSON], 401, "unauthenticated"),
    case("no session, a browser", "GET", "/app/x?a=1", Credential::None,
        &[("Accept", "text/html")], 302, ""),
    case("cookie twice", "GET", "/app/x", Credential::MemberTwice, &[JSON], 400, "duplicate_session_cookie"),
    case("forged cookie", "GET", "/app/x", Credential::Forged, &[JSON], 401, "invalid_session"),
    case("bad key", "GET", "/app/x", Credential::BadKey, &[JSON], 401, "invalid_api_key"),
    case("cross-site write", "POST", "/app/x", Credential::Member,
        &[JSON, ("Origin", "http://evil.example"), ("Content-Length", "0")], 403, "csrf_rejected"),
    case("another's workspace", "GET", "/w/0123456789abcdef/x", Credential::Member, &[JSON], 404, "not_found"),
    case("member on admin", "GET", "/app/admin", Credential::Member, &[JSON], 403, "forbidden"),
    case("key in another workspace", "GET", "/app/x", Credential::Key,
        &[JSON, ("X-Workspace-Id", "0123456789abcdef")], 403, "api_key_wrong_workspace"),
    case("dead upstream", "GET", "/dead/x", Credential::Member, &[JSON], 502, "upstream_unreachable"),
    case("slow upstream", "GET", "/slow/x", Credential::Member, &[JSON], 504, "upstream_timeout"),
];

/// An app that answers after two seconds (and is not counted).
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(2)).await;
    "late"
}

fn routes(app: u16, dead: u16) -> String {
    format!(
        r#"[[gateway.routes]]
name = "app"
path_prefix = "/app"
upstream = "http://127.0.0.1:{app}"
actions = [{{ path_prefix = "/app/admin", action = "admin" }}]

[[gateway.routes]]
name = "workspaces"
path_prefix = "/w"
upstream = "http://127.0.0.1:{app}"

[[gateway.routes]]
name = "dead"
path_prefix = "/dead"
upstream = "http://127.0.0.1:{dead}"

[[gateway.routes]]
name = "slow"
path_prefix = "/slow"
upstream = "http://127.0.0.1:{app}"
read_timeout_ms = 300
"#
    )
}

/// A loopback port nothing listens on.
fn closed_port() -> TestResult<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[tokio::test]
async fn every_refusal_answers_its_status_and_code() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let router = Router::new().route("/slow/x", axum::routing::get(slow));
    let (app, port) = apps::serve(App::new("app"), router).await?;
    let stack = Stack::routed(
        &database_url,
        &services::redis_url(),
        &routes(port, closed_port()?),
    )
    .await?;
    let result = table(&stack, &app).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

async fn table(stack: &Stack, app: &App) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let owner = sign_up(&c, gw, &client::email("owner")).await?;
    let team = client::create_workspace(&c, gw, &owner, "Refusals").await?;
    let mut member = sign_up(&c, gw, &client::email("member")).await?;
    client::join(&c, gw, &owner, &mut member, &team, "member").await?;
    client::switch(&c, gw, &mut member, &team).await?;
    // The whole `wrn_<id>_<secret>` token.
    let (_, token) = client::create_api_key(&c, gw, &owner, &team, "member").await?;
    let key = format!("Bearer {token}");
    for case in CASES {
        let before = app.hits();
        let (status, head, body) = send(gw, case, &member, &key).await?;
        let what = format!("{}: {status} {head}\n{body}", case.name);
        assert_eq!(status, case.status, "{what}");
        assert!(
            !head.to_ascii_lowercase().contains("server: pingora"),
            "{what}"
        );
        if case.status == 302 {
            assert!(head.contains("/.wrnexus/signin?return_to="), "{what}");
        } else {
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/problem+json"),
                "{what}"
            );
            assert_eq!(body["code"], case.code, "{what}");
            assert_eq!(body["status"], case.status, "{what}");
            let request_id = body["request_id"].as_str().unwrap_or_default();
            assert!(!request_id.is_empty(), "{what}");
            let header = format!("x-request-id: {request_id}");
            assert!(
                head.to_ascii_lowercase()
                    .contains(&header.to_ascii_lowercase()),
                "{what}"
            );
        }
        // (The slow route's handler is not the counting echo.)
        let reached = app.hits() - before;
        assert_eq!(reached, 0, "{what}: reached the app");
    }
    Ok(())
}

/// Send one case byte for byte; the status, the head and the JSON body.
async fn send(gw: &str, case: &Case, member: &User, key: &str) -> TestResult<(u16, String, Value)> {
    let host = gw.trim_start_matches("http://");
    let mut request = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\n",
        case.method, case.target
    );
    let cookie = |value: &str| format!("Cookie: {value}\r\n");
    match case.credential {
        Credential::None => {}
        Credential::Member => request.push_str(&cookie(&member.cookie)),
        Credential::MemberTwice => {
            request.push_str(&cookie(&format!("{}; {}", member.cookie, member.cookie)));
        }
        Credential::Forged => request.push_str(&cookie(&format!("{COOKIE_NAME}=forged"))),
        Credential::Key => request.push_str(&format!("Authorization: {key}\r\n")),
        Credential::BadKey => request.push_str("Authorization: Bearer wrn_nokey\r\n"),
    }
    for (name, value) in case.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    if case.headers.iter().any(|(n, _)| *n == "Transfer-Encoding") {
        request.push_str("0\r\n\r\n");
    }
    let (status, text) = raw_exchange(gw, request.as_bytes()).await?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status, head.to_string(), body))
}
