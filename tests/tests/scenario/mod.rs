//! The main flow, run against an embedded and a split stack.

mod assertion;
mod keys;
mod refused_tokens;

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, COOKIE_NAME, User, http, json_body, sign_up};
use wrnexus_e2e::stack::{OPERATOR_TOKEN, Stack};
use wrnexus_e2e::tokens;

/// Repeat a request until it answers `want`, for up to `within`: pushed
/// changes reach the gateway asynchronously (the target is well under a
/// second).
async fn until_status(
    user: &User,
    method: Method,
    url: &str,
    want: StatusCode,
    within: Duration,
) -> TestResult {
    let deadline = Instant::now() + within;
    loop {
        let got = status_of(user, method.clone(), url).await?;
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(
                format!("{method} {url}: still {got} after {within:?}, wanted {want}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(user: &User, method: Method, url: &str) -> TestResult<StatusCode> {
    Ok(user.req(&http(), method, url).send().await?.status())
}

/// Every step of the foundation flow; `stack` is already running.
pub async fn main_flow(stack: &Stack) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let api = format!("{gw}/.wrnexus/api/v1");

    // No identity: browsers go to sign-in (coming back here), others get 401.
    let r = c
        .get(format!("{gw}/reports/q3?tab=1"))
        .header(ACCEPT, "text/html")
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(location, "/.wrnexus/signin?return_to=/reports/q3%3Ftab%3D1");
    let page = c.get(format!("{gw}{location}")).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(
        html.contains("<form") && html.contains("name=\"password\""),
        "{html}"
    );
    assert!(
        html.contains("value=\"/reports/q3?tab=1\""),
        "return_to lost: {html}"
    );
    let (status, body) = json_body(
        c.get(format!("{gw}/reports"))
            .header(ACCEPT, "application/json")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");

    // Sign-up through an HTML form lands back on the page, signed in.
    let form_email = client::email("form");
    let r = c
        .post(format!("{gw}/.wrnexus/signup"))
        .form(&[
            ("email", form_email.as_str()),
            ("password", client::PASSWORD),
            ("return_to", "/reports/q3?tab=1"),
        ])
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/reports/q3?tab=1")
    );
    let cookie = client::session_set_cookie(&r).ok_or("no cookie from form sign-up")?;
    let r = c
        .get(format!("{gw}/reports/q3?tab=1"))
        .header(COOKIE, cookie.split(';').next().unwrap_or(""))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);

    // JSON sign-up: user, personal workspace, owner, and a proper cookie.
    let mut alice = sign_up(&c, gw, &client::email("alice")).await?;
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            alice.set_cookie.contains(attribute),
            "cookie lacks {attribute}: {}",
            alice.set_cookie
        );
    }
    assert!(!alice.set_cookie.contains("Domain"), "{}", alice.set_cookie);
    let claims = tokens::claims_of(alice.token())?;
    for claim in ["iss", "aud", "sub", "wid", "sid", "iat", "exp"] {
        assert!(
            claims.get(claim).is_some(),
            "token lacks `{claim}`: {claims}"
        );
    }
    assert!(
        claims.get("role").is_none(),
        "the cookie must not carry the role"
    );

    // Through the gateway: verified headers, spoofed copies gone.
    let r = alice
        .req(&c, Method::GET, &format!("{gw}/app/page?x=1"))
        .header("X-Workspace-Id", "spoofed")
        .header("x-user-id", "spoofed")
        .header("X_Workspace_Id", "spoofed")
        .header("x_user_id", "spoofed")
        .header("X-Workspace-Role", "owner")
        .header("X-Custom-Secret", "named-in-connection")
        .header("Connection", "X-Custom-Secret")
        .header("X-WRNexus-Assertion", "forged")
        .send()
        .await?;
    let (status, echo) = json_body(r).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/app/page");
    assert_eq!(echo["query"], "x=1");
    let headers = &echo["headers"];
    assert_eq!(headers["x-workspace-id"], alice.workspace_id.as_str());
    assert_eq!(headers["x-user-id"], alice.id.as_str());
    assert_eq!(headers["x-workspace-role"], "owner");
    assert!(
        headers["x-request-id"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    for spoof in ["x_workspace_id", "x_user_id", "x-custom-secret"] {
        assert!(
            headers.get(spoof).is_none(),
            "{spoof} reached the upstream: {headers}"
        );
    }
    // The signed assertion states the same, and verifies with the keys the
    // control plane publishes.
    let assertion = headers["x-wrnexus-assertion"]
        .as_str()
        .ok_or(format!("no assertion header: {headers}"))?;
    let asserted = assertion::verify(&c, &api, assertion).await?;
    assert_eq!(asserted["sub"], alice.id.as_str());
    assert_eq!(asserted["kind"], "user");
    assert_eq!(asserted["wid"], alice.workspace_id.as_str());
    assert_eq!(asserted["role"], "owner");
    assert_eq!(asserted["rid"], headers["x-request-id"]);
    let forwarded_cookie = headers.get("cookie").and_then(Value::as_str).unwrap_or("");
    assert!(
        !forwarded_cookie.contains(COOKIE_NAME),
        "session cookie forwarded: {forwarded_cookie}"
    );

    // The path decided on is the path forwarded: ambiguous ones are refused.
    for path in [
        "/app/%2e%2e/admin",
        "/app%2Fadmin",
        "/app//admin",
        "/app/../admin",
    ] {
        let (status, text) = client::raw_request(gw, path, &alice.cookie).await?;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("ambiguous_path"), "{path}: {text}");
    }

    // Bad sign-ups: clear errors, nothing written.
    let (status, body) = json_body(
        c.post(format!("{gw}/.wrnexus/signup"))
            .json(&json!({"email": alice.email, "password": client::PASSWORD}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    let weak = client::email("weak");
    let (status, body) = json_body(
        c.post(format!("{gw}/.wrnexus/signup"))
            .json(&json!({"email": weak, "password": "short"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    let (status, body) = json_body(
        c.post(format!("{gw}/.wrnexus/signup"))
            .json(&json!({"password": client::PASSWORD}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("missing_field"),
            Some("email")
        )
    );
    let (status, body) = json_body(
        c.post(format!("{gw}/.wrnexus/signin"))
            .json(&json!({"email": weak, "password": "short"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials")),
        "the weak sign-up left a user"
    );

    // A team workspace with Bob as a viewer.
    let team = client::create_workspace(&c, gw, &alice, "Team").await?;
    let mut bob = sign_up(&c, gw, &client::email("bob")).await?;
    client::join(&c, gw, &alice, &mut bob, &team, "viewer").await?;
    let (status, echo) = json_body(
        bob.req(&c, Method::GET, &format!("{gw}/doc"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo["headers"]["x-workspace-id"], team.as_str());
    assert_eq!(echo["headers"]["x-workspace-role"], "viewer");

    // A viewer reads but cannot write; the denial names its decision.
    let r = bob
        .req(&c, Method::POST, &format!("{gw}/doc"))
        .send()
        .await?;
    let decision_header = r
        .headers()
        .get("x-wrnexus-decision-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (status, body) = json_body(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert!(
        decision_header.is_some() && decision_header.as_deref() == body["decision_id"].as_str(),
        "{body}"
    );

    // The tenancy API through the gateway: projects, API keys, the audit
    // log; a viewer may not read the log, an outsider learns nothing.
    let (status, body) = json_body(
        alice
            .req(
                &c,
                Method::POST,
                &format!("{api}/workspaces/{team}/projects"),
            )
            .json(&json!({"name": "web"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = json_body(
        alice
            .req(
                &c,
                Method::POST,
                &format!("{api}/workspaces/{team}/api-keys"),
            )
            .json(&json!({"name": "ci", "role_ceiling": "viewer"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["secret"].as_str().ok_or("no key secret")?.to_string();
    let key_id = body["api_key"]["id"]
        .as_str()
        .ok_or("no key id")?
        .to_string();
    assert!(key.starts_with("wrn_"));
    let (status, log) = json_body(
        alice
            .req(&c, Method::GET, &format!("{api}/workspaces/{team}/audit"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{log}");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .ok_or("no audit entries")?
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in [
        "workspace.created",
        "member.added",
        "project.created",
        "api_key.created",
    ] {
        assert!(actions.contains(&expected), "{expected} not in {actions:?}");
    }
    let r = bob
        .req(&c, Method::GET, &format!("{api}/workspaces/{team}/audit"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let outsider = client::sign_up(&c, gw, &client::email("outsider")).await?;
    for path in ["members", "projects", "api-keys", "audit", "webhooks"] {
        let r = outsider
            .req(&c, Method::GET, &format!("{api}/workspaces/{team}/{path}"))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }

    keys::api_key_and_deep_links(&c, gw, &api, &mut alice, &outsider, &team, &key, &key_id).await?;

    // Suspension: the team turns read-only, and only the team.
    client::switch(&c, gw, &mut alice, &team).await?;
    let r = c
        .post(format!("{api}/operator/workspaces/{team}/suspend"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    until_status(
        &alice,
        Method::POST,
        &format!("{gw}/doc"),
        StatusCode::FORBIDDEN,
        Duration::from_secs(2),
    )
    .await?;
    let (status, body) = json_body(
        alice
            .req(&c, Method::POST, &format!("{gw}/doc"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("workspace_read_only"))
    );
    assert_eq!(
        status_of(&alice, Method::GET, &format!("{gw}/doc")).await?,
        StatusCode::OK
    );
    let personal = claims["wid"].as_str().ok_or("no wid")?.to_string();
    client::switch(&c, gw, &mut alice, &personal).await?;
    assert_eq!(
        status_of(&alice, Method::POST, &format!("{gw}/doc")).await?,
        StatusCode::OK,
        "suspension leaked into another workspace"
    );
    let r = c
        .post(format!("{api}/operator/workspaces/{team}/reactivate"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(format!("{api}/operator/workspaces/{team}/suspend"))
        .bearer_auth("wrong-token")
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    client::switch(&c, gw, &mut alice, &team).await?;
    until_status(
        &alice,
        Method::POST,
        &format!("{gw}/doc"),
        StatusCode::OK,
        Duration::from_secs(2),
    )
    .await?;

    // whoami: the current workspace and every membership.
    let (status, me) = json_body(
        alice
            .req(&c, Method::GET, &format!("{gw}/.wrnexus/whoami"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["workspace"]["id"], team.as_str());
    assert_eq!(me["workspace"]["role"], "owner");
    assert_eq!(me["workspaces"].as_array().map(Vec::len), Some(2), "{me}");
    assert_eq!(
        me["workspaces"][0]["kind"], "personal",
        "personal workspace first: {me}"
    );

    // Membership removed in the control plane: Bob's next requests are denied.
    let r = alice
        .req(
            &c,
            Method::DELETE,
            &format!("{api}/workspaces/{team}/members/{}", bob.id),
        )
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    until_status(
        &bob,
        Method::GET,
        &format!("{gw}/doc"),
        StatusCode::FORBIDDEN,
        Duration::from_secs(2),
    )
    .await?;
    let (_, body) = json_body(
        bob.req(&c, Method::GET, &format!("{gw}/doc"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(body["code"], "not_a_member");

    // Tokens the gateway must refuse: tampered, expired, wrong audience, alg none.
    refused_tokens::refused(&c, gw, &stack.database_url, &alice).await?;

    // Sign-out revokes the session everywhere.
    let r = alice
        .req(&c, Method::POST, &format!("{gw}/.wrnexus/signout"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    until_status(
        &alice,
        Method::GET,
        &format!("{gw}/x"),
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(2),
    )
    .await?;

    // Sign-in lands in the last-used workspace: the team, not the personal one.
    let (status, body) = json_body(
        c.post(format!("{gw}/.wrnexus/signin"))
            .json(&json!({"email": alice.email, "password": client::PASSWORD}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["workspace"]["id"], team.as_str());
    assert_ne!(team, personal);
    Ok(())
}
