//! A person's own account over the real binary, with mail through a real
//! SMTP receiver: sign up → the mailed verification link (opening it
//! verifies nothing, the button does, once) → "forgot password" (an unknown
//! email gets the same answer and no mail) → the mailed reset link → the
//! user's other sessions are refused at the gateway within a second, the
//! old password fails and the new one works, the link works once; a change
//! of password ends the other sessions; a change of email counts once
//! verified at the new address. `wrnexus dev` (SQLite) and the split stack
//! (Postgres, Redis), where `[session] require_verified_email` also keeps
//! unverified people out of apps and gives them no API key. Mail through
//! SMTP without a `public_url` is warned about at start and by `config check`.

use reqwest::header::{ACCEPT, LOCATION, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD, User, http, json_body, session_set_cookie, until};
use wrnexus_e2e::mailbox::{link, quoted_printable};
use wrnexus_e2e::process::{Proc, binary, free_port, wait_ready};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;
use wrnexus_testkit::smtp::SmtpSink;

const WITHIN: Duration = Duration::from_secs(15);
const PUBLIC_URL: &str = "https://front.example.test";
const NEW_PASSWORD: &str = "a completely new passphrase";

/// The newest link containing `path` mailed to `to` (waiting for the
/// `nth` message to them), on the public URL, turned into the same path
/// on `gateway`.
async fn mailed_link(
    smtp: &SmtpSink,
    to: &str,
    nth: usize,
    path: &str,
    gateway: &str,
) -> TestResult<String> {
    let got = smtp
        .wait_for_matching(nth, WITHIN, |m| m.to.iter().any(|t| t == to))
        .await;
    let mail = got
        .get(nth - 1)
        .ok_or_else(|| format!("no mail #{nth} to {to}: {:?}", smtp.messages()))?;
    let found = link(&quoted_printable(&mail.data), path)?;
    let path_and_query = found
        .strip_prefix(PUBLIC_URL)
        .ok_or_else(|| format!("a link off the public URL: {found}"))?;
    Ok(format!("{gateway}{path_and_query}"))
}

fn token_of(url: &str) -> TestResult<String> {
    Ok(url
        .split_once("token=")
        .ok_or("no token in the link")?
        .1
        .to_string())
}

async fn sign_in(
    c: &Client,
    gateway: &str,
    email: &str,
    password: &str,
) -> TestResult<(StatusCode, Option<User>)> {
    let response = c
        .post(format!("{gateway}/.wrnexus/signin"))
        .header(ACCEPT, "application/json")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await?;
    let set_cookie = session_set_cookie(&response);
    let (status, body) = json_body(response).await?;
    let user = match set_cookie {
        Some(set_cookie) if status == StatusCode::OK => Some(User {
            email: email.to_string(),
            id: body["user"]["id"].as_str().ok_or("user id")?.to_string(),
            workspace_id: body["workspace"]["id"].as_str().ok_or("wid")?.to_string(),
            cookie: set_cookie.split(';').next().unwrap_or("").to_string(),
            set_cookie,
        }),
        _ => None,
    };
    Ok((status, user))
}

async fn account(c: &Client, gateway: &str, user: &User) -> TestResult<(StatusCode, Value)> {
    json_body(
        user.req(
            c,
            Method::GET,
            &format!("{gateway}/.wrnexus/api/v1/account"),
        )
        .header(ACCEPT, "application/json")
        .send()
        .await?,
    )
    .await
}

/// A form POST from the gateway's own pages.
async fn form(
    c: &Client,
    gateway: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> TestResult<reqwest::Response> {
    Ok(c.post(format!("{gateway}{path}"))
        .header(ORIGIN, gateway)
        .form(fields)
        .send()
        .await?)
}

async fn front_door(stack: &Stack, smtp: &SmtpSink) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let email = client::email("ann");
    let first = client::sign_up(&c, gw, &email).await?;

    // The verification link: opening it changes nothing; the button does.
    let verify = mailed_link(smtp, &email, 1, "/.wrnexus/verify-email?token=", gw).await?;
    let page = c.get(&verify).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await?.contains("Verify my email"));
    assert_eq!(account(&c, gw, &first).await?.1["email_verified"], false);
    let token = token_of(&verify)?;
    let r = form(&c, gw, "/.wrnexus/verify-email", &[("token", "wrong")]).await?;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(account(&c, gw, &first).await?.1["email_verified"], false);
    let r = form(&c, gw, "/.wrnexus/verify-email", &[("token", &token)]).await?;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await?.contains("Email verified"));
    assert_eq!(account(&c, gw, &first).await?.1["email_verified"], true);
    let r = form(&c, gw, "/.wrnexus/verify-email", &[("token", &token)]).await?;
    assert_eq!(r.status(), StatusCode::CONFLICT, "used once");

    // Forgot password: the same answer for an unknown email, and no mail.
    let (_, laptop) = sign_in(&c, gw, &email, PASSWORD).await?;
    let laptop = laptop.ok_or("no laptop session")?;
    assert_eq!(
        laptop
            .req(&c, Method::GET, &format!("{gw}/"))
            .send()
            .await?
            .status(),
        StatusCode::OK
    );
    let stranger = client::email("nobody");
    let unknown = form(&c, gw, "/.wrnexus/forgot-password", &[("email", &stranger)]).await?;
    let unknown_status = unknown.status();
    let unknown = unknown.text().await?;
    let known = form(&c, gw, "/.wrnexus/forgot-password", &[("email", &email)]).await?;
    assert_eq!(known.status(), unknown_status);
    assert_eq!(
        known.text().await?.replace(&email, "X"),
        unknown.replace(&stranger, "X")
    );
    let reset = mailed_link(smtp, &email, 2, "/.wrnexus/reset-password?token=", gw).await?;
    assert!(
        smtp.messages().iter().all(|m| !m.to.contains(&stranger)),
        "nothing is mailed to an unknown address"
    );

    // The reset: the form, then every session ends at the gateway.
    let page = c.get(&reset).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let token = token_of(&reset)?;
    let done = form(
        &c,
        gw,
        "/.wrnexus/reset-password",
        &[("token", &token), ("password", NEW_PASSWORD)],
    )
    .await?;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/");
    let set_cookie = session_set_cookie(&done).ok_or("the reset signed nobody in")?;
    let mut fresh = first.clone();
    fresh.cookie = set_cookie.split(';').next().unwrap_or("").to_string();
    for old in [&first, &laptop] {
        let took = until(
            &c,
            old,
            &format!("{gw}/"),
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(1),
        )
        .await?;
        assert!(took <= Duration::from_secs(1), "{took:?}");
    }
    assert_eq!(
        fresh
            .req(&c, Method::GET, &format!("{gw}/"))
            .send()
            .await?
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&c, gw, &email, PASSWORD).await?.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&c, gw, &email, NEW_PASSWORD).await?.0,
        StatusCode::OK
    );
    let again = form(
        &c,
        gw,
        "/.wrnexus/reset-password",
        &[("token", &token), ("password", "yet another passphrase")],
    )
    .await?;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "a reset link works once"
    );
    assert_eq!(
        sign_in(&c, gw, &email, NEW_PASSWORD).await?.0,
        StatusCode::OK
    );

    // A change of password ends the other sessions, not this one.
    let (_, phone) = sign_in(&c, gw, &email, NEW_PASSWORD).await?;
    let phone = phone.ok_or("no phone session")?;
    let r = fresh
        .req(
            &c,
            Method::POST,
            &format!("{gw}/.wrnexus/api/v1/account/password"),
        )
        .header(ORIGIN, gw)
        .json(&json!({ "current_password": NEW_PASSWORD, "new_password": PASSWORD }))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    until(
        &c,
        &phone,
        &format!("{gw}/"),
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(1),
    )
    .await?;
    assert_eq!(
        fresh
            .req(&c, Method::GET, &format!("{gw}/"))
            .send()
            .await?
            .status(),
        StatusCode::OK
    );

    // A change of email counts once verified at the new address.
    let new_email = client::email("ann-new");
    let r = fresh
        .req(
            &c,
            Method::POST,
            &format!("{gw}/.wrnexus/api/v1/account/email"),
        )
        .header(ORIGIN, gw)
        .json(&json!({ "email": new_email, "current_password": PASSWORD }))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (_, me) = account(&c, gw, &fresh).await?;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["pending_email"], new_email.as_str());
    let verify = mailed_link(smtp, &new_email, 1, "/.wrnexus/verify-email?token=", gw).await?;
    let r = form(
        &c,
        gw,
        "/.wrnexus/verify-email",
        &[("token", &token_of(&verify)?)],
    )
    .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, me) = account(&c, gw, &fresh).await?;
    assert_eq!(me["email"], new_email.as_str());
    assert_eq!(me["email_verified"], true);
    assert_eq!(
        sign_in(&c, gw, &new_email, PASSWORD).await?.0,
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test]
async fn the_front_door_in_dev() -> TestResult {
    let smtp = SmtpSink::start().await?;
    let url = smtp.url();
    let stack = Stack::embedded_args(&["--smtp-url", &url, "--public-url", PUBLIC_URL]).await?;
    let result = front_door(&stack, &smtp).await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

#[tokio::test]
async fn the_front_door_on_postgres_and_redis() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let smtp = SmtpSink::start().await?;
    let smtp_url = smtp.url();
    let stack = Stack::split_with_env(
        &database,
        &redis_url(),
        &[],
        &[
            ("WRNEXUS_SMTP_URL", &smtp_url),
            ("WRNEXUS_CONTROL_PLANE__PUBLIC_URL", PUBLIC_URL),
        ],
    )
    .await?;
    let result = front_door(&stack, &smtp).await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

#[tokio::test]
async fn a_deployment_can_keep_unverified_people_out_of_apps() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let smtp = SmtpSink::start().await?;
    let smtp_url = smtp.url();
    let stack = Stack::split_with_env(
        &database,
        &redis_url(),
        &[("WRNEXUS_SESSION__REQUIRE_VERIFIED_EMAIL", "true")],
        &[
            ("WRNEXUS_SESSION__REQUIRE_VERIFIED_EMAIL", "true"),
            ("WRNEXUS_SMTP_URL", &smtp_url),
            ("WRNEXUS_CONTROL_PLANE__PUBLIC_URL", PUBLIC_URL),
        ],
    )
    .await?;
    let result = async {
        let c = http();
        let gw = stack.gateway.as_str();
        let email = client::email("unverified");
        let user = client::sign_up(&c, gw, &email).await?;
        let (status, body) =
            json_body(user.req(&c, Method::GET, &format!("{gw}/")).send().await?).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "email_unverified");
        // Nor does a key carry them past the gateway: they get none.
        let keys = format!(
            "{}/v1/workspaces/{}/api-keys",
            stack.control_plane, user.workspace_id
        );
        let new_key = || {
            c.post(&keys)
                .bearer_auth(user.token())
                .json(&json!({ "name": "ci" }))
        };
        let (status, body) = json_body(new_key().send().await?).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "email_unverified");
        // A browser is pointed to a new link.
        let page = user
            .req(&c, Method::GET, &format!("{gw}/"))
            .header(ACCEPT, "text/html")
            .send()
            .await?;
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        assert!(page.text().await?.contains("/.wrnexus/verify-email"));
        // The account pages stay reachable: a signed-in person without a
        // link is offered a new one.
        let offer = user
            .req(&c, Method::GET, &format!("{gw}/.wrnexus/verify-email"))
            .send()
            .await?;
        assert_eq!(offer.status(), StatusCode::OK);
        assert!(offer.text().await?.contains("Send a new link"));
        // Verified: let in at once.
        let verify = mailed_link(&smtp, &email, 1, "/.wrnexus/verify-email?token=", gw).await?;
        let r = form(
            &c,
            gw,
            "/.wrnexus/verify-email",
            &[("token", &token_of(&verify)?)],
        )
        .await?;
        assert_eq!(r.status(), StatusCode::OK);
        until(
            &c,
            &user,
            &format!("{gw}/"),
            StatusCode::OK,
            Duration::from_secs(1),
        )
        .await?;
        // And may now make a key, which the gateway lets through.
        let (status, key) = json_body(new_key().send().await?).await?;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let secret = key["secret"].as_str().ok_or("no secret")?;
        let r = c.get(format!("{gw}/")).bearer_auth(secret).send().await?;
        assert_eq!(r.status(), StatusCode::OK);
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

#[tokio::test]
async fn mail_through_smtp_without_a_public_url_is_warned_about() -> TestResult {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let base = format!(
        "[control_plane]\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n",
        dir.path().join("db.sqlite").display()
    );
    let smtp = "[mail]\nsmtp_url = \"smtp://127.0.0.1:2525\"\n";
    let check = |text: String| -> TestResult<String> {
        let config = dir.path().join("wrnexus.toml");
        std::fs::write(&config, text)?;
        let out = std::process::Command::new(binary()?)
            .args(["config", "check"])
            .arg(&config)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "a warning, not an error: {stderr}");
        Ok(stderr)
    };
    let warned = check(format!("{base}{smtp}"))?;
    assert!(
        warned.contains("warning: [control_plane] public_url is not set")
            && warned.contains("http://127.0.0.1:8080"),
        "{warned}"
    );
    let set = check(format!("{base}public_url = \"{PUBLIC_URL}\"\n{smtp}"))?;
    assert!(!set.contains("public_url"), "{set}");
    assert!(
        !check(base.clone())?.contains("public_url"),
        "no SMTP, no warning"
    );

    // The control plane starts anyway, and says so loudly.
    let config = dir.path().join("wrnexus.toml");
    std::fs::write(&config, format!("{base}{smtp}"))?;
    let config = config.display().to_string();
    let mut proc = Proc::spawn(
        "control-plane",
        dir.path(),
        &["control-plane", "--config", &config],
        &[],
    )?;
    let url = format!("http://127.0.0.1:{port}/v1/health");
    wait_ready(&url, &mut proc, Duration::from_secs(60)).await?;
    let logs = proc.output();
    assert!(logs.contains("public_url is not set"), "{logs}");
    Ok(())
}
