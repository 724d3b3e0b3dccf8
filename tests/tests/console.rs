//! The workspace console in a real headless Chromium, through the gateway of
//! `wrnexus dev`, as its owner runs it: opened from the switcher, the
//! workspace renamed, an API key created (its secret shown once) and
//! revoked, a project created and archived, a refusal shown, billing off
//! said plainly, a teammate invited by email who signs up from the mailed
//! link and accepts, then is made an admin; another invitation resent and
//! revoked. Every page is saved as a screenshot under the test artifacts.
//! Viewers, sessions and dark mode: `console_roles.rs`.

// Shared with the other browser suites, which use helpers this one does not.
#[allow(dead_code)]
mod browser_support;
#[allow(dead_code)]
mod console_support;

use browser_support::{Browser, eventually, saved_screenshot};
use console_support::{
    click_button, confirm, count, dialog_open, drawn, fill, from_page, invitation_link, mails_to,
    open, page_shot, shows, sign_in_as,
};
use fantoccini::Locator;
use fantoccini::key::Key;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE};
use serde_json::Value;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD};
use wrnexus_e2e::stack::Stack;

#[tokio::test]
async fn the_console_in_a_real_browser() -> TestResult {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let stack = Stack::embedded().await?;
    let result = flow(&browser, &stack).await;
    if result.is_err() {
        let _ = browser
            .screenshot(&browser_support::artifacts_dir().join("console/failure.png"))
            .await;
    }
    browser.close().await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

async fn flow(browser: &Browser, stack: &Stack) -> TestResult {
    let gw = stack.gateway.as_str();
    let http = client::http();
    let owner_email = client::email("console-owner");

    // Signed out, the console sends to sign-in and back.
    let response = http.get(format!("{gw}/.wrnexus/console")).send().await?;
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        location.starts_with("/.wrnexus/signin?return_to=") && location.contains("console"),
        "{location}"
    );

    // The owner signs up in the browser and creates a team from the switcher.
    browser.client.goto(&format!("{gw}/")).await?;
    browser.wait_location("/.wrnexus/signin").await?;
    browser.to_signup().await?;
    browser.submit_credentials(&owner_email, PASSWORD).await?;
    browser.shown_workspace().await?;
    browser.part(".trigger").await?.click().await?;
    browser.part(".create").await?.click().await?;
    let input = browser.part("form input").await?;
    input.send_keys("Acme Research").await?;
    browser.mark_document().await?;
    input.send_keys(&Key::Enter.to_string()).await?;
    let (name, _) = browser.wait_reloaded().await?;
    assert_eq!(name, "Acme Research");

    // "Manage workspace" in the switcher opens the console on it.
    browser.part(".trigger").await?.click().await?;
    browser.part(".manage").await?.click().await?;
    let here = browser.wait_location("/.wrnexus/console/w/").await?;
    let team = here
        .trim_start_matches("/.wrnexus/console/w/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(here.ends_with("/overview"), "{here}");
    drawn(browser).await?;
    assert_eq!(browser.text("#title").await?, "Overview");
    shows(browser, "#lead", "your role: owner").await?;
    for section in [
        "members", "projects", "api-keys", "webhooks", "audit", "billing", "account",
    ] {
        let css = format!("#nav a[data-section='{section}']");
        assert_eq!(count(browser, &css).await?, 1, "no {section} for the owner");
    }
    shell_headers(gw, browser).await?;

    // Rename.
    fill(browser, "input[name=name]", "Acme Labs").await?;
    click_button(browser, "Rename").await?;
    shows(browser, "#status", "Renamed to Acme Labs").await?;
    shows(browser, "[data-fact=name]", "Acme Labs").await?;
    page_shot(browser, "console/overview.png").await?;

    keys(browser, gw, &team).await?;
    projects(browser, gw, &team).await?;

    // A refusal is shown, not swallowed: a loopback webhook target.
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/webhooks")).await?;
    fill(browser, "input[name=url]", "http://127.0.0.1:9/hook").await?;
    click_button(browser, "Add endpoint").await?;
    let alert = eventually("the refusal to be shown", || async {
        let shown = browser
            .js("const a = document.getElementById('alert'); return a.hidden ? '' : a.textContent;")
            .await?;
        let text = shown.as_str().unwrap_or_default().to_string();
        Ok((!text.is_empty()).then_some(text))
    })
    .await?;
    assert!(
        alert.contains("url") || alert.contains("URL") || alert.contains("address"),
        "{alert}"
    );
    page_shot(browser, "console/webhooks.png").await?;

    // Billing is off in dev, and says so.
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/billing")).await?;
    shows(browser, "#content h2", "Billing is off").await?;
    page_shot(browser, "console/billing.png").await?;

    // Invite a teammate by email.
    let invitee = client::email("console-invitee");
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/members")).await?;
    fill(browser, "input[name=email]", &invitee).await?;
    click_button(browser, "Send invitation").await?;
    shows(browser, "#status", &format!("Invitation sent to {invitee}")).await?;
    shows(browser, "#content table", &invitee).await?;
    page_shot(browser, "console/members.png").await?;

    // The audit log has the changes, and the export link carries the filters.
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/audit")).await?;
    eventually("audit rows", || async {
        Ok((count(browser, "#content tbody tr").await? > 0).then_some(()))
    })
    .await?;
    let export = browser
        .client
        .find(Locator::Css("a.export"))
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    assert!(
        export.contains(&format!("/workspaces/{team}/audit/export")),
        "{export}"
    );
    page_shot(browser, "console/audit.png").await?;

    // The invitee opens the mailed link, signs up from it and accepts.
    let path = invitation_link(&mails_to(gw, &invitee, 1).await?[0])?;
    browser
        .js("const r = new XMLHttpRequest(); r.open('POST', '/.wrnexus/signout', false); r.send();")
        .await?;
    browser.client.goto(&format!("{gw}{path}")).await?;
    shows(browser, "h1", "Join Acme Labs").await?;
    browser
        .client
        .find(Locator::LinkText("Create an account"))
        .await?
        .click()
        .await?;
    browser.wait_location("/.wrnexus/signup").await?;
    browser.submit_credentials(&invitee, PASSWORD).await?;
    browser.wait_location(&path).await?;
    click_button(browser, "Accept and join").await?;
    eventually("the invitation to be accepted", || async {
        Ok((browser.location().await? != path).then_some(()))
    })
    .await?;

    // The owner sees them among the members, no longer pending.
    sign_in_as(
        browser,
        gw,
        &owner_email,
        &format!("/.wrnexus/console/w/{team}/members"),
    )
    .await?;
    drawn(browser).await?;
    let members = shows(browser, "#content table", &invitee).await?;
    assert!(members.contains(&owner_email), "{members}");
    shows(browser, "#content", "No pending invitations").await?;
    manage_members(browser, gw, &invitee).await?;

    narrow(browser, gw, &team).await?;
    delete_team(browser, gw, &team).await?;
    Ok(())
}

/// The shell's and the assets' headers.
async fn shell_headers(gw: &str, browser: &Browser) -> TestResult {
    let cookie = browser.client.get_named_cookie(client::COOKIE_NAME).await?;
    let http = client::http();
    let response = http
        .get(format!("{gw}/.wrnexus/console/account"))
        .header(
            COOKIE,
            format!("{}={}", client::COOKIE_NAME, cookie.value()),
        )
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header(CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
    assert_eq!(header(CACHE_CONTROL), "no-store");
    for (asset, kind) in [
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
    ] {
        let response = http
            .get(format!("{gw}/.wrnexus/console/assets/{asset}"))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let got = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(got.starts_with(kind), "{asset}: {got}");
    }
    Ok(())
}

/// Create an API key (its secret shown once, working), then revoke it
/// through the dialog (Escape first: it closes, the focus comes back).
async fn keys(browser: &Browser, gw: &str, team: &str) -> TestResult {
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/api-keys")).await?;
    fill(browser, "input[name=name]", "CI deploys").await?;
    click_button(browser, "Create key").await?;
    let secret = shows(browser, "[data-secret]", "wrn_").await?;
    page_shot(browser, "console/api-keys.png").await?;
    let http = client::http();
    let api = format!("{gw}/.wrnexus/api/v1/workspaces/{team}");
    let status = http.get(&api).bearer_auth(&secret).send().await?.status();
    assert_eq!(status, StatusCode::OK, "the shown secret does not work");

    // Shown once: a fresh page has the key but not its secret.
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/api-keys")).await?;
    shows(browser, "#content table", "CI deploys").await?;
    assert_eq!(count(browser, "[data-secret]").await?, 0);
    let source = browser.client.source().await?;
    assert!(!source.contains(&secret), "the secret is shown again");

    click_button(browser, "Revoke").await?;
    assert!(dialog_open(browser).await?);
    browser.press(&[Key::Escape]).await?;
    assert!(
        !dialog_open(browser).await?,
        "Escape does not close the dialog"
    );
    eventually("the focus back on the Revoke button", || async {
        let focused = browser
            .js("const a = document.activeElement; return a ? a.tagName + ':' + a.textContent : '';")
            .await?;
        if focused == "BUTTON:Revoke" {
            return Ok(Some(()));
        }
        Err(format!("the focus is on {focused}").into())
    })
    .await
    .map_err(|e| format!("{e} (the focus did not come back)"))?;
    eventually("the Revoke button to be ready again", || async {
        Ok((count(browser, "[aria-busy=true]").await? == 0).then_some(()))
    })
    .await?;
    click_button(browser, "Revoke").await?;
    confirm(browser).await?;
    shows(browser, "#status", "revoked").await?;
    shows(browser, "#content table", "revoked").await?;
    let status = http.get(&api).bearer_auth(&secret).send().await?.status();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked key still works"
    );
    Ok(())
}

/// On the members page: make the new member an admin; invite someone else,
/// resend (the first link stops working) and revoke (the last one says so).
async fn manage_members(browser: &Browser, gw: &str, invitee: &str) -> TestResult {
    let row = format!("//tr[contains(., '{invitee}')]");
    browser
        .client
        .find(Locator::XPath(&format!("{row}//select")))
        .await?
        .select_by_value("admin")
        .await?;
    browser
        .client
        .find(Locator::XPath(&format!(
            "{row}//button[normalize-space(.)='Save role']"
        )))
        .await?
        .click()
        .await?;
    shows(browser, "#status", &format!("{invitee} is now admin")).await?;

    let late = client::email("console-late");
    fill(browser, "input[name=email]", &late).await?;
    click_button(browser, "Send invitation").await?;
    shows(browser, "#content table", &late).await?;
    click_button(browser, "Resend").await?;
    shows(browser, "#status", "A new link was sent").await?;
    eventually("the buttons to be ready again", || async {
        Ok((count(browser, "[aria-busy=true]").await? == 0).then_some(()))
    })
    .await?;
    click_button(browser, "Revoke").await?;
    confirm(browser).await?;
    shows(browser, "#status", "was revoked").await?;
    shows(browser, "#content", "No pending invitations").await?;

    let sent = mails_to(gw, &late, 2).await?;
    let (newest, first) = (invitation_link(&sent[0])?, invitation_link(&sent[1])?);
    assert_ne!(newest, first, "resending kept the same link");
    browser.client.goto(&format!("{gw}{newest}")).await?;
    shows(browser, "h1", "withdrawn").await?;
    browser.client.goto(&format!("{gw}{first}")).await?;
    shows(browser, "h1", "does not work").await?;
    Ok(())
}

/// Create a project, archive it.
async fn projects(browser: &Browser, gw: &str, team: &str) -> TestResult {
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/projects")).await?;
    fill(browser, "input[name=name]", "Website").await?;
    click_button(browser, "Create project").await?;
    shows(browser, "#status", "Project Website created").await?;
    shows(browser, "#content table", "Website").await?;
    click_button(browser, "Archive").await?;
    shows(browser, "#content table", "archived").await?;
    page_shot(browser, "console/projects.png").await?;
    Ok(())
}

/// A phone's width: nothing leaves the window sideways.
async fn narrow(browser: &Browser, gw: &str, team: &str) -> TestResult {
    browser.client.set_window_size(390, 844).await?;
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/members")).await?;
    saved_screenshot(browser, "console/members-phone.png").await?;
    let wider = browser
        .js("const w = document.documentElement.clientWidth; \
             return [...document.querySelectorAll('body *')] \
               .filter((e) => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap, nav')) \
               .map((e) => e.tagName + '.' + e.className).slice(0, 5).join(' ');")
        .await?;
    assert_eq!(wider, Value::from(""), "wider than a phone");
    let fits = browser
        .js("return document.documentElement.scrollWidth <= document.documentElement.clientWidth;")
        .await?;
    assert_eq!(
        fits,
        Value::Bool(true),
        "the page scrolls sideways on a phone"
    );
    browser.client.set_window_size(1100, 760).await?;
    Ok(())
}

/// Delete the workspace: the dialog wants its name (a wrong one deletes
/// nothing and says so), then the console opens the personal workspace.
async fn delete_team(browser: &Browser, gw: &str, team: &str) -> TestResult {
    open(browser, gw, &format!("/.wrnexus/console/w/{team}/overview")).await?;
    click_button(browser, "Delete workspace…").await?;
    assert!(dialog_open(browser).await?);
    fill(browser, "#dialog-body input", "Acme").await?;
    browser
        .client
        .find(Locator::Id("dialog-ok"))
        .await?
        .click()
        .await?;
    shows(browser, "#dialog-alert", "does not match").await?;
    assert!(
        dialog_open(browser).await?,
        "a wrong name closed the dialog"
    );
    fill(browser, "#dialog-body input", "Acme Labs").await?;
    browser
        .client
        .find(Locator::Id("dialog-ok"))
        .await?
        .click()
        .await?;
    eventually("the personal workspace's console", || async {
        let here = browser.location().await?;
        Ok((here.starts_with("/.wrnexus/console/w/") && !here.contains(team)).then_some(()))
    })
    .await?;
    drawn(browser).await?;
    shows(browser, "#content", "Personal").await?;
    let api = format!("/.wrnexus/api/v1/workspaces/{team}");
    assert_eq!(from_page(browser, "GET", &api, "").await?, 404);
    Ok(())
}
