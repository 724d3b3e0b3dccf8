//! Cookie-authenticated writes are same-origin only, on SQLite and on
//! Postgres: what a browser says about a request (`Sec-Fetch-Site`, else
//! `Origin`, else `Referer`) decides; a cross-site write is a 403
//! `csrf_rejected` that changes nothing, while same-origin pages, clients
//! that are not browsers, Bearer automation and Stripe's webhooks pass. The
//! JSON API never reads `text/plain` (or untyped) bodies as JSON.

mod common;

use common::TestResult;
use common::http::{Api, User, on_both, on_both_with};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::api::forwarded::TrustedProxies;

/// The `Cookie` header of a browser holding `token`.
fn cookie(token: &str) -> String {
    format!("{}={token}", ControlPlaneConfig::new("").cookie_name)
}

/// What a browser adds to a request.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// Send `method` to `path` (under the control plane) with the session
/// cookie of `user` and the browser headers `headers`.
async fn browser(
    api: &Api,
    method: Method,
    path: &str,
    user: &User,
    headers: Headers<'_>,
    body: Option<Value>,
) -> TestResult<(StatusCode, Value, bool)> {
    let mut req = api
        .http
        .request(method, format!("{}{path}", api.base))
        .header("cookie", cookie(&user.token));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await?;
    let status = res.status();
    let sets_cookie = res.headers().contains_key("set-cookie");
    let text = res.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        sets_cookie,
    ))
}

/// Create a workspace named `name` as `user`'s browser would.
async fn create(
    api: &Api,
    user: &User,
    headers: Headers<'_>,
    name: &str,
) -> TestResult<(StatusCode, Value)> {
    let (s, b, _) = browser(
        api,
        Method::POST,
        "/.wrnexus/api/v1/workspaces",
        user,
        headers,
        Some(json!({ "name": name })),
    )
    .await?;
    Ok((s, b))
}

/// The names of `user`'s workspaces.
async fn names(api: &Api, user: &User) -> TestResult<Vec<String>> {
    let (s, b) = api
        .call(Method::GET, "/workspaces", &user.token, None)
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["workspaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|w| {
            w["name"]
                .as_str()
                .or_else(|| w["workspace"]["name"].as_str())
                .map(str::to_string)
        })
        .collect())
}

fn assert_refused(what: &str, status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(code(body), "csrf_rejected", "{what}: {body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/csrf_rejected")),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn cross_site_cookie_writes_are_refused_and_change_nothing() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let evil = "https://evil.example";
        let cases: [(&str, Headers); 6] = [
            ("cross-site fetch", &[("sec-fetch-site", "cross-site")]),
            ("same-site subdomain", &[("sec-fetch-site", "same-site")]),
            (
                "fetch metadata wins over a matching origin",
                &[("sec-fetch-site", "cross-site"), ("origin", "http://x")],
            ),
            ("another origin", &[("origin", evil)]),
            ("an opaque origin", &[("origin", "null")]),
            (
                "another referer",
                &[("referer", "https://evil.example/page")],
            ),
        ];
        for (i, (what, headers)) in cases.iter().enumerate() {
            let (s, b) = create(&api, &ann, headers, &format!("Planted {i}")).await?;
            assert_refused(what, s, &b);
        }
        let held = names(&api, &ann).await?;
        assert!(
            held.iter().all(|n| !n.starts_with("Planted")),
            "a refused request wrote: {held:?}"
        );

        // Renaming and deleting the personal workspace: refused, untouched.
        let path = format!("/.wrnexus/api/v1/workspaces/{}", ann.personal);
        let cross = [("sec-fetch-site", "cross-site")];
        let (s, b, _) = browser(
            &api,
            Method::PATCH,
            &path,
            &ann,
            &cross,
            Some(json!({"name": "Renamed"})),
        )
        .await?;
        assert_refused("rename", s, &b);
        let (s, b, _) = browser(&api, Method::DELETE, &path, &ann, &cross, None).await?;
        assert_refused("delete", s, &b);
        assert!(!names(&api, &ann).await?.contains(&"Renamed".to_string()));
        let (s, _) = api
            .call(
                Method::GET,
                &format!("/workspaces/{}", ann.personal),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "the workspace went");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn same_origin_pages_and_other_clients_still_write() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let own = api.base.clone();
        let referer = format!("{own}/settings");
        let cases: [(&str, Headers); 6] = [
            ("same-origin fetch", &[("sec-fetch-site", "same-origin")]),
            ("typed by the user", &[("sec-fetch-site", "none")]),
            (
                "same origin",
                &[("origin", own.as_str()), ("accept", "application/json")],
            ),
            ("same referer", &[("referer", referer.as_str())]),
            ("not a browser", &[]),
            // A page elsewhere cannot add `Authorization`; a script holding
            // the token is not riding on a cookie.
            (
                "bearer",
                &[("sec-fetch-site", "cross-site"), ("authorization", "")],
            ),
        ];
        for (i, (what, headers)) in cases.iter().enumerate() {
            let bearer = format!("Bearer {}", ann.token);
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| match *k {
                    "authorization" => (*k, bearer.as_str()),
                    _ => (*k, *v),
                })
                .collect();
            let (s, b) = create(&api, &ann, &headers, &format!("Team {i}")).await?;
            assert_eq!(s, StatusCode::CREATED, "{what}: {b}");
        }
        assert_eq!(
            names(&api, &ann)
                .await?
                .iter()
                .filter(|n| n.starts_with("Team "))
                .count(),
            6
        );

        // API keys at /v1 are automation: what a browser would say is moot.
        let keys = api.team(&ann, "Keys").await?;
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{keys}/api-keys"),
                &ann.token,
                Some(json!({"name": "ci", "role_ceiling": "admin"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let key = b["secret"].as_str().ok_or("api key secret")?.to_string();
        let res = api
            .http
            .post(format!("{}/v1/workspaces/{keys}/projects", api.base))
            .bearer_auth(&key)
            .header("origin", "https://evil.example")
            .json(&json!({"name": "nightly"}))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::CREATED);

        // Stripe's webhook is signed, never cookie-authenticated.
        for prefix in ["/v1", "/.wrnexus/api/v1"] {
            let res = api
                .http
                .post(format!("{}{prefix}/billing/stripe/webhook", api.base))
                .header("sec-fetch-site", "cross-site")
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await?;
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(code(&body), "csrf_rejected", "{prefix}: {body}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sign_out_and_switch_from_another_site_are_refused() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme").await?;
        let cross = [("sec-fetch-site", "cross-site")];

        let (s, b, sets) =
            browser(&api, Method::POST, "/.wrnexus/signout", &ann, &cross, None).await?;
        assert_refused("signout", s, &b);
        assert!(!sets, "a refused sign-out cleared the cookie");
        let (s, b, sets) = browser(
            &api,
            Method::POST,
            "/.wrnexus/switch",
            &ann,
            &cross,
            Some(json!({ "workspace_id": team })),
        )
        .await?;
        assert_refused("switch", s, &b);
        assert!(!sets, "a refused switch re-issued the cookie");

        // The session lives on, still in the personal workspace.
        let (s, who, _) = browser(&api, Method::GET, "/.wrnexus/whoami", &ann, &[], None).await?;
        assert_eq!(s, StatusCode::OK, "{who}");
        assert_eq!(who["workspace"]["id"], json!(ann.personal), "{who}");

        // From the gateway's own pages both work.
        let same = [("sec-fetch-site", "same-origin")];
        let (s, b, sets) = browser(
            &api,
            Method::POST,
            "/.wrnexus/switch",
            &ann,
            &same,
            Some(json!({ "workspace_id": team })),
        )
        .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(sets);
        let (s, _, _) = browser(&api, Method::POST, "/.wrnexus/signout", &ann, &same, None).await?;
        assert_eq!(s, StatusCode::NO_CONTENT);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn another_site_cannot_sign_a_browser_in_or_up() -> TestResult {
    on_both(|api| async move {
        api.sign_up("ann@example.com").await?;
        let form = |path: &str, email: &str, headers: Headers| {
            let mut req = api
                .http
                .post(format!("{}/.wrnexus/{path}", api.base))
                .form(&[("email", email), ("password", "correct horse battery")]);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send()
        };
        let cross: Headers = &[("origin", "https://evil.example")];
        for (path, email) in [("signin", "ann@example.com"), ("signup", "bob@example.com")] {
            let res = form(path, email, cross).await?;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(!res.headers().contains_key("set-cookie"), "{path}");
            let body: Value = res.json().await?;
            assert_eq!(code(&body), "csrf_rejected", "{path}: {body}");
        }
        // The refused sign-up made no account: the address is still free.
        api.sign_up("bob@example.com").await?;

        // The sign-in page itself posts same-origin and is let through.
        let own = api.base.clone();
        let res = api
            .http
            .post(format!("{}/.wrnexus/signin", api.base))
            .header("origin", own.as_str())
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"email": "ann@example.com", "password": "correct horse battery"}))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_origin_is_the_one_a_trusted_gateway_forwards() -> TestResult {
    // Behind a gateway (loopback, trusted by default) serving https://app.example.com.
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let gateway: Headers = &[
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-proto", "https"),
        ];
        let with = |origin: &'static str| {
            let mut h = gateway.to_vec();
            h.push(("origin", origin));
            h
        };
        let (s, b) = create(&api, &ann, &with("https://app.example.com"), "Ok").await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = create(&api, &ann, &with("http://app.example.com"), "Plain").await?;
        assert_refused("http is another origin", s, &b);
        let (s, b) = create(&api, &ann, &with("https://app.example.com:8443"), "Port").await?;
        assert_refused("another port is another origin", s, &b);
        Ok(())
    })
    .await?;
    // A peer that is not trusted cannot vouch for the origin it claims.
    on_both_with(
        |c| c.trusted_proxies = TrustedProxies::none(),
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let spoofed: Headers = &[
                ("x-forwarded-host", "evil.example"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://evil.example"),
            ];
            let (s, b) = create(&api, &ann, spoofed, "Spoofed").await?;
            assert_refused("forwarded by an untrusted peer", s, &b);
            let own = api.base.clone();
            let (s, b) = create(&api, &ann, &[("origin", own.as_str())], "Direct").await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn json_is_read_only_under_a_json_content_type() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let body = r#"{"name": "Smuggled"}"#;
        for (i, content_type) in [Some("text/plain"), Some("text/plain;charset=UTF-8"), None]
            .into_iter()
            .enumerate()
        {
            for base in ["/.wrnexus/api/v1", "/v1"] {
                let mut req = api
                    .http
                    .post(format!("{}{base}/workspaces", api.base))
                    .body(body.replace("Smuggled", &format!("Smuggled {i}")));
                req = match base {
                    "/v1" => req.bearer_auth(&ann.token),
                    _ => req.header("cookie", cookie(&ann.token)),
                };
                if let Some(t) = content_type {
                    req = req.header("content-type", t);
                }
                let res = req.send().await?;
                let status = res.status();
                let b: Value = res.json().await?;
                assert_eq!(
                    status,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "{content_type:?} at {base}: {b}"
                );
                assert_eq!(code(&b), "unsupported_media_type", "{b}");
            }
        }
        assert!(
            names(&api, &ann)
                .await?
                .iter()
                .all(|n| !n.starts_with("Smuggled")),
            "a text/plain body was read as JSON"
        );
        // `application/*+json` is JSON.
        let res = api
            .http
            .post(format!("{}/v1/workspaces", api.base))
            .bearer_auth(&ann.token)
            .header(
                "content-type",
                "application/vnd.wrnexus+json; charset=utf-8",
            )
            .body(r#"{"name": "Typed"}"#)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::CREATED);
        Ok(())
    })
    .await
}
