//! The workspace console in a real headless Chromium, through the gateway of
//! `wrnexus dev`, for people other than an owner managing things: a viewer
//! is offered no management action and the API refuses the same actions
//! anyway, a workspace they are not in is not found; on the account page,
//! ending another session cuts it at the gateway (at two gateways, within
//! a second or so, on Postgres and Redis); a dark system gets the dark
//! console, and the keyboard reaches the content first.

// Shared with the other browser suites, which use helpers this one does not.
#[allow(dead_code)]
mod browser_support;
#[allow(dead_code)]
mod console_support;

use browser_support::{Browser, eventually};
use console_support::{
    confirm, count, drawn, from_page, open, page_shot, shows, sign_in_as, sign_in_json,
};
use fantoccini::Locator;
use fantoccini::key::Key;
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::Value;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD, User};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;

/// Run `suite` against a fresh `wrnexus dev` in a fresh browser (`flags`
/// added to Chromium's); the stack's logs with any failure.
async fn in_browser<F>(flags: &[String], suite: F) -> TestResult
where
    F: AsyncFnOnce(&Browser, &Stack) -> TestResult,
{
    let Some(browser) = Browser::start_with(flags).await? else {
        return Ok(());
    };
    let stack = Stack::embedded().await?;
    let result = suite(&browser, &stack).await;
    browser.close().await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

#[tokio::test]
async fn a_viewer_is_offered_nothing_and_refused_anyway() -> TestResult {
    in_browser(&[], viewer).await
}

#[tokio::test]
async fn ownership_is_handed_over_in_the_console() -> TestResult {
    in_browser(&[], transfer).await
}

/// The owner hands the workspace to a member (confirmed in a dialog): they
/// stay on as an admin, offered no more transfer or deletion; the member
/// is the owner.
async fn transfer(browser: &Browser, stack: &Stack) -> TestResult {
    let gw = stack.gateway.as_str();
    let http = client::http();
    let owner = client::sign_up(&http, gw, &client::email("console-giver")).await?;
    let team = client::create_workspace(&http, gw, &owner, "Acme Labs").await?;
    let heir = client::sign_up(&http, gw, &client::email("console-heir")).await?;
    client::add_member(&http, gw, &owner, &heir, &team, "member").await?;

    let overview = format!("/.wrnexus/console/w/{team}/overview");
    sign_in_as(browser, gw, &owner.email, &overview).await?;
    drawn(browser).await?;
    assert_eq!(
        count(browser, ".card.danger").await?,
        1,
        "no delete for the owner"
    );
    browser
        .client
        .find(Locator::Css("select[name=user_id]"))
        .await?
        .select_by_value(&heir.id)
        .await?;
    browser
        .client
        .find(Locator::XPath("//button[normalize-space(.)='Transfer…']"))
        .await?
        .click()
        .await?;
    confirm(browser).await?;
    shows(browser, "#lead", "your role: admin").await?;
    assert_eq!(
        count(browser, ".card.danger, select[name=user_id]").await?,
        0
    );
    let (status, body) = client::json_body(
        heir.req(
            &http,
            reqwest::Method::GET,
            &format!("{gw}/.wrnexus/api/v1/workspaces/{team}/permissions"),
        )
        .send()
        .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "owner", "{body}");
    Ok(())
}

#[tokio::test]
async fn ending_another_session_cuts_it_at_the_gateway() -> TestResult {
    in_browser(&[], sessions).await
}

#[tokio::test]
async fn the_console_follows_a_dark_system_and_the_keyboard() -> TestResult {
    in_browser(&["--force-dark-mode".to_string()], dark).await
}

/// Dark colours when the system is dark; Tab first reaches "Skip to
/// content", then the header, with a visible focus ring.
async fn dark(browser: &Browser, stack: &Stack) -> TestResult {
    let gw = stack.gateway.as_str();
    browser
        .client
        .goto(&format!("{gw}/.wrnexus/console"))
        .await?;
    browser.wait_location("/.wrnexus/signin").await?;
    browser.to_signup().await?;
    browser
        .submit_credentials(&client::email("console-dark"), PASSWORD)
        .await?;
    browser.wait_location("/.wrnexus/console/w/").await?;
    drawn(browser).await?;
    let dark = browser
        .js("return matchMedia('(prefers-color-scheme: dark)').matches;")
        .await?;
    assert_eq!(dark, Value::Bool(true), "the browser is not in dark mode");
    let background = browser
        .js("return getComputedStyle(document.body).backgroundColor;")
        .await?;
    assert_eq!(background, Value::from("rgb(17, 20, 27)"), "no dark page");
    page_shot(browser, "console/overview-dark.png").await?;

    browser
        .js("document.activeElement && document.activeElement.blur();")
        .await?;
    browser.press(&[Key::Tab]).await?;
    let first = browser
        .js("const a = document.activeElement; return [a.textContent, getComputedStyle(a).outlineStyle];")
        .await?;
    assert_eq!(first[0], Value::from("Skip to content"));
    assert_ne!(first[1], Value::from("none"), "no visible focus");
    browser.press(&[Key::Enter]).await?;
    let at = browser.js("return document.activeElement.id;").await?;
    assert_eq!(
        at,
        Value::from("main"),
        "skipping does not reach the content"
    );
    Ok(())
}

/// A viewer's console offers no management action; the API refuses the
/// same actions when asked directly; another workspace is not found.
async fn viewer(browser: &Browser, stack: &Stack) -> TestResult {
    let gw = stack.gateway.as_str();
    let http = client::http();
    let viewer_email = client::email("console-viewer");
    let mut viewer = client::sign_up(&http, gw, &viewer_email).await?;
    let owner = client::sign_up(&http, gw, &client::email("console-owner")).await?;
    let team = client::create_workspace(&http, gw, &owner, "Acme Labs").await?;
    let team = team.as_str();
    client::add_member(&http, gw, &owner, &viewer, team, "viewer").await?;
    client::switch(&http, gw, &mut viewer, team).await?;

    let overview = format!("/.wrnexus/console/w/{team}/overview");
    sign_in_as(browser, gw, &viewer_email, &overview).await?;
    drawn(browser).await?;
    shows(browser, "#lead", "your role: viewer").await?;
    for section in ["api-keys", "webhooks", "audit", "billing"] {
        let css = format!("#nav a[data-section='{section}']");
        assert_eq!(
            count(browser, &css).await?,
            0,
            "{section} offered to a viewer"
        );
    }
    assert_eq!(
        count(browser, "#content form, #content button").await?,
        0,
        "actions offered"
    );
    page_shot(browser, "console/viewer-overview.png").await?;
    for section in ["projects", "members"] {
        open(
            browser,
            gw,
            &format!("/.wrnexus/console/w/{team}/{section}"),
        )
        .await?;
        assert_eq!(
            count(browser, "#content form, #content button").await?,
            0,
            "{section}"
        );
    }
    shows(browser, "#content table", &viewer_email).await?;
    page_shot(browser, "console/viewer-members.png").await?;

    // The API refuses what the page does not offer.
    let api = format!("/.wrnexus/api/v1/workspaces/{team}");
    assert_eq!(
        from_page(browser, "PATCH", &api, r#"{"name":"Mine now"}"#).await?,
        403
    );
    assert_eq!(
        from_page(
            browser,
            "POST",
            &format!("{api}/api-keys"),
            r#"{"name":"x"}"#
        )
        .await?,
        403
    );
    assert_eq!(
        from_page(
            browser,
            "POST",
            &format!("{api}/invitations"),
            r#"{"email":"a@example.com"}"#
        )
        .await?,
        403
    );

    // A workspace they are not in: the API's 404, said plainly.
    let mine: Value = owner
        .req(
            &http,
            reqwest::Method::GET,
            &format!("{gw}/.wrnexus/api/v1/workspaces"),
        )
        .send()
        .await?
        .json()
        .await?;
    let personal = mine["workspaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|w| w["kind"] == "personal")
        .and_then(|w| w["id"].as_str())
        .ok_or("the owner has no personal workspace")?
        .to_string();
    open(
        browser,
        gw,
        &format!("/.wrnexus/console/w/{personal}/overview"),
    )
    .await?;
    assert_eq!(browser.text("#title").await?, "Workspace not found");
    let alert = browser.text("#alert").await?;
    assert!(!alert.is_empty());
    page_shot(browser, "console/not-found.png").await?;
    Ok(())
}

/// The account page lists this session and another one; ending the other
/// one cuts it at the gateway.
async fn sessions(browser: &Browser, stack: &Stack) -> TestResult {
    sessions_at(browser, stack, &[]).await
}

/// [`sessions`], with the ended session refused at `more` gateways too.
async fn sessions_at(browser: &Browser, stack: &Stack, more: &[String]) -> TestResult {
    let gw = stack.gateway.as_str();
    let owner_email = client::email("console-sessions");
    let owner_email = owner_email.as_str();
    client::sign_up(&client::http(), gw, owner_email).await?;
    sign_in_as(browser, gw, owner_email, "/.wrnexus/console/account").await?;
    let other = sign_in_json(gw, owner_email, "console-test-cli/1.0").await?;
    let http = client::http();
    let gateways: Vec<&str> = std::iter::once(gw)
        .chain(more.iter().map(String::as_str))
        .collect();
    let app = |user: &User, at: &str| {
        user.req(&http, reqwest::Method::GET, &format!("{at}/"))
            .header(ACCEPT, "application/json")
            .send()
    };
    for at in &gateways {
        assert_eq!(app(&other, at).await?.status(), StatusCode::OK, "{at}");
    }

    open(browser, gw, "/.wrnexus/console/account").await?;
    shows(browser, "#content", "this device").await?;
    shows(browser, "#content table", "console-test-cli").await?;
    shows(browser, "[data-fact=email]", owner_email).await?;
    page_shot(browser, "console/account.png").await?;
    let ends = count(browser, "button[data-session]").await?;
    assert!(ends >= 1, "no other session to end");

    let row = browser
        .client
        .find(Locator::XPath(
            "//tr[contains(., 'console-test-cli')]//button",
        ))
        .await?;
    row.click().await?;
    confirm(browser).await?;
    shows(browser, "#status", "The session was ended").await?;
    let ended = std::time::Instant::now();
    for at in &gateways {
        eventually(
            &format!("the ended session to be refused at {at}"),
            || async {
                let status = app(&other, at).await?.status();
                Ok((status == StatusCode::UNAUTHORIZED).then_some(()))
            },
        )
        .await?;
    }
    assert!(
        ended.elapsed() < std::time::Duration::from_secs(2),
        "the gateways took {:?} to refuse the ended session",
        ended.elapsed()
    );
    let page = browser.text("#content").await?;
    assert!(
        !page.contains("console-test-cli"),
        "the ended session is still listed"
    );
    // This device is still signed in.
    open(browser, gw, "/.wrnexus/console/account").await?;
    shows(browser, "#content", "this device").await?;
    Ok(())
}

#[tokio::test]
async fn on_postgres_and_redis_with_two_gateways() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let mut stack = Stack::split(&database, &redis_url()).await?;
    let result = async {
        let (second, _) = stack.add_gateway(&redis_url()).await?;
        viewer(&browser, &stack).await?;
        sessions_at(&browser, &stack, &[second]).await
    }
    .await;
    browser.close().await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}
