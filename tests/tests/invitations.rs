//! Invitations by email over the real binary, with a real SMTP receiver:
//! the link arrives by mail, its page lets the invitee sign up with the
//! invited email and accept (or decline); revoked, resent, expired, used
//! and unknown links are refused and change nothing. `wrnexus dev`
//! (SQLite) and the split stack (Postgres, Redis).

use base64::Engine;
use reqwest::header::{ACCEPT, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, User, http, json_body, sign_up};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;
use wrnexus_testkit::smtp::SmtpSink;

const MAIL_WAIT: Duration = Duration::from_secs(15);

/// The text of a mail, its MIME parts decoded (quoted-printable or
/// base64), beside the raw text.
fn decoded(data: &str) -> String {
    let unfolded = data.replace("=\r\n", "").replace("=\n", "");
    let mut text = unfolded.replace("=3D", "=");
    text.push('\n');
    for block in data.split("\r\n\r\n").chain(data.split("\n\n")) {
        let joined: String = block.lines().map(str::trim).collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(joined.as_bytes())
            && let Ok(s) = String::from_utf8(bytes)
        {
            text.push_str(&s);
            text.push('\n');
        }
    }
    text
}

/// The invitation token a mail's link carries.
fn token_in(data: &str) -> Option<String> {
    let text = decoded(data);
    let at = text.find("/.wrnexus/invitations/")? + "/.wrnexus/invitations/".len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// Wait for the `n`th mail to `to` and the invitation token it carries.
async fn mailed_token(sink: &SmtpSink, to: &str, n: usize) -> TestResult<String> {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        let mine: Vec<_> = sink
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.contains(to)))
            .filter(|m| token_in(&m.data).is_some())
            .collect();
        if let Some(mail) = mine.get(n - 1) {
            let text = decoded(&mail.data);
            assert!(text.contains("Acme"), "the workspace is named: {text}");
            return Ok(token_in(&mail.data).ok_or("no link")?);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("no invitation mail #{n} to {to}: {:?}", sink.messages()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A JSON call through the gateway's `/.wrnexus/api/v1`.
async fn call(
    c: &Client,
    stack: &Stack,
    user: &User,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResult<(StatusCode, Value)> {
    let mut req = user
        .req(
            c,
            method,
            &format!("{}/.wrnexus/api/v1{path}", stack.gateway),
        )
        .header(ACCEPT, "application/json")
        .header(ORIGIN, &stack.gateway);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// What anyone holding the link sees of it.
async fn preview(c: &Client, stack: &Stack, token: &str) -> TestResult<(StatusCode, Value)> {
    let url = format!("{}/.wrnexus/api/v1/invitations/{token}", stack.gateway);
    json_body(c.get(url).send().await?).await
}

async fn members(c: &Client, stack: &Stack, owner: &User, team: &str) -> TestResult<Vec<String>> {
    let path = format!("/workspaces/{team}/members");
    let (s, b) = call(c, stack, owner, Method::GET, &path, None).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["members"]
        .as_array()
        .ok_or("members")?
        .iter()
        .filter_map(|m| m["email"].as_str().map(str::to_string))
        .collect())
}

async fn invite(
    c: &Client,
    stack: &Stack,
    owner: &User,
    team: &str,
    email: &str,
) -> TestResult<String> {
    let path = format!("/workspaces/{team}/invitations");
    let body = json!({ "email": email, "role": "member" });
    let (s, b) = call(c, stack, owner, Method::POST, &path, Some(body)).await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok(b["invitation"]["id"].as_str().ok_or("id")?.to_string())
}

/// Everything but expiry, on `stack`, whose mail goes to `sink`.
async fn invitation_flow(stack: &Stack, sink: &SmtpSink) -> TestResult {
    let c = http();
    let owner = sign_up(&c, &stack.gateway, &client::email("owner")).await?;
    let team = client::create_workspace(&c, &stack.gateway, &owner, "Acme").await?;

    // Invite by email: the link arrives by mail and opens the page.
    let bob = client::email("bob");
    invite(&c, stack, &owner, &team, &bob).await?;
    let token = mailed_token(sink, &bob, 1).await?;
    let page_url = format!("{}/.wrnexus/invitations/{token}", stack.gateway);
    let page = c.get(&page_url).header(ACCEPT, "text/html").send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(html.contains("Join Acme"), "{html}");
    assert!(html.contains(&owner.email), "the inviter is named: {html}");
    assert!(html.contains("Create an account"), "{html}");

    // The invitee signs up with the invited email, from the page's link.
    let signup_link = format!("/.wrnexus/signup?return_to=/.wrnexus/invitations/{token}");
    assert!(html.contains(&signup_link), "{html}");
    let bob_user = sign_up(&c, &stack.gateway, &bob).await?;
    let (s, b) = preview(&c, stack, &token).await?;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("pending")),
        "{b}"
    );
    let page = bob_user
        .req(&c, Method::GET, &page_url)
        .header(ACCEPT, "text/html")
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains("Accept and join"), "{page}");

    // Accept through the page's form: into the workspace.
    let accepted = bob_user
        .req(&c, Method::POST, &format!("{page_url}/accept"))
        .header(ORIGIN, &stack.gateway)
        .form(&[("go", "1")])
        .send()
        .await?;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let mut bob_user = bob_user;
    bob_user.update_cookie(&accepted);
    let who: Value = bob_user
        .req(
            &c,
            Method::GET,
            &format!("{}/.wrnexus/whoami", stack.gateway),
        )
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(who["workspace"]["id"], team.as_str(), "{who}");
    assert!(members(&c, stack, &owner, &team).await?.contains(&bob));
    // A used link says so, and a second accept is refused.
    let (s, b) = preview(&c, stack, &token).await?;
    assert_eq!(b["status"], "accepted", "{s} {b}");
    let again = format!("/invitations/{token}/accept");
    let (s, b) = call(&c, stack, &bob_user, Method::POST, &again, None).await?;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_spent"))
    );

    // Decline: the link says so, and accepting afterwards is refused.
    let dee = client::email("dee");
    invite(&c, stack, &owner, &team, &dee).await?;
    let token = mailed_token(sink, &dee, 1).await?;
    let declined = c
        .post(format!(
            "{}/.wrnexus/invitations/{token}/decline",
            stack.gateway
        ))
        .header(ORIGIN, &stack.gateway)
        .form(&[("go", "1")])
        .send()
        .await?;
    assert_eq!(declined.status(), StatusCode::OK);
    assert!(declined.text().await?.contains("Invitation declined"));
    let dee_user = sign_up(&c, &stack.gateway, &dee).await?;
    let accept = format!("/invitations/{token}/accept");
    let (s, b) = call(&c, stack, &dee_user, Method::POST, &accept, None).await?;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_declined"))
    );
    assert!(!members(&c, stack, &owner, &team).await?.contains(&dee));

    // Revoke: the page says so, and accepting is refused.
    let eve = client::email("eve");
    let id = invite(&c, stack, &owner, &team, &eve).await?;
    let token = mailed_token(sink, &eve, 1).await?;
    let (s, listed) = call(
        &c,
        stack,
        &owner,
        Method::GET,
        &format!("/workspaces/{team}/invitations"),
        None,
    )
    .await?;
    assert_eq!(s, StatusCode::OK);
    assert!(
        listed["invitations"]
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["id"] == id.as_str())),
        "{listed}"
    );
    let revoke = format!("/workspaces/{team}/invitations/{id}");
    let (s, b) = call(&c, stack, &owner, Method::DELETE, &revoke, None).await?;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let page = c
        .get(format!("{}/.wrnexus/invitations/{token}", stack.gateway))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await?.contains("withdrawn"));
    let eve_user = sign_up(&c, &stack.gateway, &eve).await?;
    let accept = format!("/invitations/{token}/accept");
    let (s, b) = call(&c, stack, &eve_user, Method::POST, &accept, None).await?;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_revoked"))
    );

    // Resend: a second mail, whose link works; the first one no longer does.
    let fay = client::email("fay");
    let id = invite(&c, stack, &owner, &team, &fay).await?;
    let old = mailed_token(sink, &fay, 1).await?;
    let resend = format!("/workspaces/{team}/invitations/{id}/resend");
    let (s, b) = call(&c, stack, &owner, Method::POST, &resend, None).await?;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let new = mailed_token(sink, &fay, 2).await?;
    assert_ne!(old, new);
    let fay_user = sign_up(&c, &stack.gateway, &fay).await?;
    let (s, _) = call(
        &c,
        stack,
        &fay_user,
        Method::POST,
        &format!("/invitations/{old}/accept"),
        None,
    )
    .await?;
    assert_eq!(s, StatusCode::NOT_FOUND, "the old link");
    assert!(!members(&c, stack, &owner, &team).await?.contains(&fay));
    let (s, b) = call(
        &c,
        stack,
        &fay_user,
        Method::POST,
        &format!("/invitations/{new}/accept"),
        None,
    )
    .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(members(&c, stack, &owner, &team).await?.contains(&fay));

    // A token nobody issued: 404 everywhere, nothing changes.
    let before = members(&c, stack, &owner, &team).await?;
    let (s, _) = preview(&c, stack, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await?;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &c,
        stack,
        &eve_user,
        Method::POST,
        "/invitations/AAAA/accept",
        None,
    )
    .await?;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let page = c
        .get(format!("{}/.wrnexus/invitations/AAAA", stack.gateway))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(members(&c, stack, &owner, &team).await?, before);
    Ok(())
}

#[tokio::test]
async fn invitations_by_email_in_dev() -> TestResult {
    let sink = SmtpSink::start().await?;
    let url = sink.url();
    let stack = Stack::embedded_args(&["--smtp-url", &url]).await?;
    let result = invitation_flow(&stack, &sink).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

#[tokio::test]
async fn invitations_by_email_on_postgres() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let sink = SmtpSink::start().await?;
    let url = sink.url();
    let env = [("WRNEXUS_SMTP_URL", url.as_str())];
    let stack = Stack::split_with_env(&database, &redis_url(), &[], &env).await?;
    let result = invitation_flow(&stack, &sink).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

#[tokio::test]
async fn an_expired_invitation_link_says_so() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let sink = SmtpSink::start().await?;
    let url = sink.url();
    let env = [
        ("WRNEXUS_SMTP_URL", url.as_str()),
        ("WRNEXUS_CONTROL_PLANE__INVITATION_TTL_SECS", "2"),
    ];
    let stack = Stack::split_with_env(&database, &redis_url(), &[], &env).await?;
    let result = async {
        let c = http();
        let owner = sign_up(&c, &stack.gateway, &client::email("owner")).await?;
        let team = client::create_workspace(&c, &stack.gateway, &owner, "Acme").await?;
        let gus = client::email("gus");
        invite(&c, &stack, &owner, &team, &gus).await?;
        let token = mailed_token(&sink, &gus, 1).await?;
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let (_, b) = preview(&c, &stack, &token).await?;
        assert_eq!(b["status"], "expired", "{b}");
        let page = c
            .get(format!("{}/.wrnexus/invitations/{token}", stack.gateway))
            .send()
            .await?;
        assert_eq!(page.status(), StatusCode::GONE);
        assert!(page.text().await?.contains("expired"));
        let gus_user = sign_up(&c, &stack.gateway, &gus).await?;
        let accept = format!("/invitations/{token}/accept");
        let (s, b) = call(&c, &stack, &gus_user, Method::POST, &accept, None).await?;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::CONFLICT, Some("invitation_expired"))
        );
        assert!(!members(&c, &stack, &owner, &team).await?.contains(&gus));
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
