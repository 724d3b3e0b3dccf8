//! The isolation promise at its edges, tried as an attacker would through
//! a real gateway: path spellings that could reach another workspace or an
//! admin-only area, credentials an app must never see, a session an app
//! must not set, identity headers in unusual spellings. Control plane on
//! Postgres and Redis; the app is an in-process echo server of this test.

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;
use serde_json::Value;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{self, COOKIE_NAME, User, http, raw_exchange, sign_up};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// An app that tries to fix its user's session.
async fn sets_session(State(app): State<App>) -> Response {
    app.hit();
    let mut response = "ok".into_response();
    let headers = response.headers_mut();
    for value in [
        format!("{COOKIE_NAME}=fixed-by-app; Path=/; Secure; HttpOnly"),
        "theme=dark; Path=/".to_string(),
        format!("{}=fixed-too; Path=/", COOKIE_NAME.to_ascii_lowercase()),
        format!("={COOKIE_NAME}=fixed-nameless; Path=/"),
    ] {
        if let Ok(v) = value.parse() {
            headers.append(SET_COOKIE, v);
        }
    }
    response
}

async fn start_app() -> TestResult<(App, u16)> {
    let router = Router::new().route("/app/set-session", axum::routing::get(sets_session));
    apps::serve(App::new("app"), router).await
}

fn routes(app: u16) -> String {
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
"#
    )
}

/// `GET target` written byte for byte (no client-side normalisation),
/// with `headers`; the status and the JSON body (or `null`).
async fn raw_get(gw: &str, target: &str, headers: &[(&str, &str)]) -> TestResult<(u16, Value)> {
    raw(gw, "GET", target, headers).await
}

/// `method target` written byte for byte, with `headers` and no body.
async fn raw(
    gw: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> TestResult<(u16, Value)> {
    let host = gw.trim_start_matches("http://");
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nContent-Length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let (status, text) = raw_exchange(gw, request.as_bytes()).await?;
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, body))
}

fn cookie(user: &User) -> (&'static str, &str) {
    ("Cookie", user.cookie.as_str())
}

#[tokio::test]
async fn the_isolation_promise_holds_at_its_edges() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let (app, port) = start_app().await?;
    let stack = Stack::routed(&database_url, &services::redis_url(), &routes(port)).await?;
    let result = attacks(&stack, &app).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

async fn attacks(stack: &Stack, app: &App) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let mut alice = sign_up(&c, gw, &client::email("alice")).await?;
    let team = client::create_workspace(&c, gw, &alice, "Edges").await?;
    let mut bob = sign_up(&c, gw, &client::email("bob")).await?;
    client::join(&c, gw, &alice, &mut bob, &team, "member").await?;
    client::switch(&c, gw, &mut alice, &team).await?;
    let mallory = sign_up(&c, gw, &client::email("mallory")).await?;

    admin_area(gw, app, &alice, &bob).await?;
    cross_site_writes(gw, app, &bob).await?;
    workspace_paths(gw, app, &alice, &mallory, &team).await?;
    credentials(gw, &c, &alice, &team).await?;
    Ok(())
}

/// A member reaches no admin-only route by spelling its prefix otherwise;
/// the owner's respelled request reaches the app as the canonical path.
async fn admin_area(gw: &str, app: &App, alice: &User, bob: &User) -> TestResult {
    let (status, body) = raw_get(gw, "/app/admin/settings", &[cookie(bob)]).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    for target in [
        "/app/%61dmin/settings",
        "/app/%61%64%6D%69%6E/settings",
        "/app/ADMIN/settings",
        "/app/Admin/settings",
        "/APP/admin/settings",
        "/%41pp/admin/settings",
        "/app/admin.json",
        "/app/ADMIN.json/settings",
        "/app/admin;x=1/settings",
        "/app/admin%3Bx/settings",
        "/app/admin./settings",
        "/app/admin%2e/settings",
        "/app/admin%20/settings",
        "/app/%2561dmin/settings",
        "/app/./admin/settings",
        "/app/x/../admin/settings",
        "/app/x/%2e%2e/admin/settings",
        "/app//admin/settings",
        "/app\\admin/settings",
        "/app%2fadmin/settings",
    ] {
        let before = app.hits();
        let (status, body) = raw_get(gw, target, &[cookie(bob)]).await?;
        let code = body["code"].as_str().unwrap_or_default();
        // A backslash is refused by the HTTP parser before the gateway's
        // own check (400 either way).
        assert!(
            (status, code) == (403, "forbidden")
                || (status, code) == (400, "ambiguous_path")
                || (status == 400 && target.contains('\\')),
            "{target}: {status} {body}"
        );
        assert_eq!(app.hits(), before, "{target} reached the app");
    }
    // The owner may; the app sees the one spelling the gateway decided on.
    for (target, path) in [
        ("/app/%61dmin/settings?x=%2F", "/app/admin/settings"),
        ("/APP/Admin/settings?x=%2F", "/APP/Admin/settings"),
        ("/app/caf%c3%a9?x=%2F", "/app/caf%C3%A9"),
    ] {
        let (status, body) = raw_get(gw, target, &[cookie(alice)]).await?;
        assert_eq!(status, 200, "{target}: {body}");
        assert_eq!(body["path"], path, "{target}: {body}");
        assert_eq!(body["query"], "x=%2F", "{target}: {body}");
    }
    Ok(())
}

/// A cookie-authenticated write from another site never reaches the app;
/// the same write from the app's own pages, and tools, do.
async fn cross_site_writes(gw: &str, app: &App, bob: &User) -> TestResult {
    let own = gw.to_string();
    for (name, value) in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Referer", "http://evil.example/form"),
    ] {
        let before = app.hits();
        let (status, body) = raw(gw, "POST", "/app/notes", &[cookie(bob), (name, value)]).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("csrf_rejected")),
            "{name}: {value}: {body}"
        );
        assert_eq!(app.hits(), before, "{name}: {value} reached the app");
    }
    for extra in [
        vec![("Sec-Fetch-Site", "same-origin")],
        vec![("Origin", own.as_str())],
        vec![],
    ] {
        let mut headers = vec![cookie(bob)];
        headers.extend(extra.iter().copied());
        let (status, body) = raw(gw, "POST", "/app/notes", &headers).await?;
        assert_eq!(status, 200, "{extra:?}: {body}");
    }
    Ok(())
}

/// A non-member reaches no workspace's paths in any spelling; a member's
/// respelled link is decided on the workspace it names.
async fn workspace_paths(
    gw: &str,
    app: &App,
    alice: &User,
    mallory: &User,
    team: &str,
) -> TestResult {
    let escaped_first = format!("%{:02X}{}", team.as_bytes()[0], &team[1..]);
    let upper = team.to_ascii_uppercase();
    let targets = [
        format!("/w/{team}/doc"),
        format!("/%77/{team}/doc"),
        format!("/W/{team}/doc"),
        format!("/w/{escaped_first}/doc"),
        format!("/w/{team}.json"),
        format!("/w/{team}.json/doc"),
        format!("/w/{team};v=1/doc"),
        format!("/w/{team}%3B/doc"),
        format!("/w/{upper}/doc"),
        format!("/w//{team}/doc"),
        format!("/w/./{team}/doc"),
    ];
    for target in &targets {
        let before = app.hits();
        let (status, body) = raw_get(gw, target, &[cookie(mallory)]).await?;
        let code = body["code"].as_str().unwrap_or_default();
        assert!(
            matches!((status, code), (404, "not_found") | (400, "ambiguous_path")),
            "{target}: {status} {body}"
        );
        assert_eq!(app.hits(), before, "{target} reached the app");
    }
    for target in [
        format!("/%77/{team}/doc"),
        format!("/W/{escaped_first}/doc"),
    ] {
        let (status, body) = raw_get(gw, &target, &[cookie(alice)]).await?;
        assert_eq!(status, 200, "{target}: {body}");
        assert_eq!(body["headers"]["x-workspace-id"], team, "{target}: {body}");
        let path = body["path"].as_str().unwrap_or_default();
        assert!(
            path.eq_ignore_ascii_case(&format!("/w/{team}/doc")),
            "{target}: {body}"
        );
    }
    Ok(())
}

/// Secrets are consumed: no API key, no session cookie reaches the app,
/// an app cannot set the session, identity headers go in any spelling.
async fn credentials(gw: &str, c: &reqwest::Client, alice: &User, team: &str) -> TestResult {
    // The whole `wrn_<id>_<secret>` token; its secret is the last part.
    let (id, key) = client::create_api_key(c, gw, alice, team, "member").await?;
    let secret = key.rsplit('_').next().unwrap_or(&key).to_string();
    for scheme in ["Bearer", "bearer"] {
        let auth = format!("{scheme} {key}");
        let (status, body) = raw_get(gw, "/app/page", &[("Authorization", &auth)]).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["headers"]["x-api-key-id"], id.as_str(), "{body}");
        let seen = body.to_string();
        assert!(
            !seen.contains(&secret),
            "the key's secret reached the app: {body}"
        );
        assert!(body["headers"].get("authorization").is_none(), "{body}");
    }
    // A key is no cookie: automation from anywhere is not a forged write.
    let auth = format!("Bearer {key}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Origin", "http://elsewhere.example"),
    ];
    let (status, body) = raw(gw, "POST", "/app/page", &headers).await?;
    assert_eq!(status, 200, "{body}");
    // The app's own credentials still pass beside a session.
    let (status, body) = raw_get(
        gw,
        "/app/page",
        &[cookie(alice), ("Authorization", "Bearer app-own-token")],
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["authorization"], "Bearer app-own-token");
    assert!(!body.to_string().contains(alice.token()), "{body}");

    // Forged identity headers, spelled any way a framework might fold.
    let forged = [
        ("X.Workspace.Id", "forged"),
        ("xworkspacerole", "owner"),
        ("X~User~Id", "forged"),
        ("-X-Api-Key-Id", "forged"),
        ("x.wrnexus.assertion", "forged"),
        ("X_Forwarded.For", "10.9.9.9"),
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-Original-URL", "/app/admin/settings"),
        ("True-Client-IP", "10.9.9.9"),
    ];
    let mut headers = vec![cookie(alice)];
    headers.extend(forged);
    let (status, body) = raw_get(gw, "/app/page", &headers).await?;
    assert_eq!(status, 200, "{body}");
    for (name, _) in forged {
        let lower = name.to_ascii_lowercase();
        assert!(
            body["headers"].get(lower.as_str()).is_none(),
            "{name} reached the app: {body}"
        );
    }
    assert!(!body.to_string().contains("forged"), "{body}");
    assert_eq!(body["headers"]["x-workspace-role"], "owner");
    assert_eq!(body["headers"]["x-workspace-id"], team);

    // An app's Set-Cookie for the session cookie never reaches the browser.
    let response = c
        .get(format!("{gw}/app/set-session"))
        .header("Cookie", &alice.cookie)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let set: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(set.iter().any(|v| v.starts_with("theme=dark")), "{set:?}");
    assert!(
        !set.iter().any(|v| v.to_ascii_lowercase().contains("fixed")),
        "the app set the session: {set:?}"
    );
    Ok(())
}
