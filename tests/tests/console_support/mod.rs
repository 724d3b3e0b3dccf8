//! Helpers of the console's browser suites: waiting for a page to be drawn
//! and for what a person would see, filling and clicking, the dialog, the
//! dev mailbox, signing in as someone, and whole-page screenshots.

use crate::browser_support::{Browser, eventually, saved_screenshot};
use fantoccini::Locator;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD, User};

/// Open a console page and wait until its section is drawn.
pub async fn open(browser: &Browser, gw: &str, path: &str) -> TestResult {
    browser.client.goto(&format!("{gw}{path}")).await?;
    drawn(browser).await
}

/// Wait until the page has its title (the section was drawn or refused).
pub async fn drawn(browser: &Browser) -> TestResult {
    eventually("the console page to be drawn", || async {
        let title = browser.text("#title").await?;
        let busy = browser
            .js("return document.querySelectorAll('#content > *').length === 0 && document.getElementById('alert').hidden;")
            .await?;
        Ok((title != "Loading…" && busy == Value::Bool(false)).then_some(()))
    })
    .await
}

/// Wait until the element `css` shows text containing `what`.
pub async fn shows(browser: &Browser, css: &str, what: &str) -> TestResult<String> {
    eventually(&format!("`{what}` in {css}"), || async {
        let found = browser.client.find_all(Locator::Css(css)).await?;
        for element in found {
            let text = element.text().await?;
            if text.contains(what) {
                return Ok(Some(text));
            }
        }
        Ok(None)
    })
    .await
}

/// How many elements match `css` now.
pub async fn count(browser: &Browser, css: &str) -> TestResult<usize> {
    Ok(browser.client.find_all(Locator::Css(css)).await?.len())
}

/// Type `text` into the field `css` (cleared first).
pub async fn fill(browser: &Browser, css: &str, text: &str) -> TestResult {
    let field = browser.client.find(Locator::Css(css)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

/// Click the button whose text is `label` (the first one).
pub async fn click_button(browser: &Browser, label: &str) -> TestResult {
    let xpath = format!("//button[normalize-space(.)='{label}']");
    let button = browser
        .client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&xpath))
        .await?;
    button.click().await?;
    Ok(())
}

/// Whether the console's dialog is open.
pub async fn dialog_open(browser: &Browser) -> TestResult<bool> {
    let open = browser
        .js("return document.getElementById('dialog').open;")
        .await?;
    Ok(open == Value::Bool(true))
}

/// A screenshot of the whole page (the window grown to its height, then
/// given back its size), saved under the artifacts and checked.
pub async fn page_shot(browser: &Browser, name: &str) -> TestResult {
    let (width, height) = browser.client.get_window_size().await?;
    let (width, height) = (u32::try_from(width)?, u32::try_from(height)?);
    let full = browser
        .js("window.scrollTo(0, 0); return document.documentElement.scrollHeight;")
        .await?
        .as_u64()
        .unwrap_or(u64::from(height));
    let tall = u32::try_from(full.clamp(u64::from(height), 2400))?;
    browser.client.set_window_size(width, tall).await?;
    let saved = saved_screenshot(browser, name).await;
    let fits = browser
        .js("return document.documentElement.scrollWidth <= document.documentElement.clientWidth;")
        .await;
    browser.client.set_window_size(width, height).await?;
    saved?;
    assert_eq!(
        fits?,
        Value::Bool(true),
        "{name}: the page scrolls sideways"
    );
    Ok(())
}

/// Wait for the dialog to open, and confirm it.
pub async fn confirm(browser: &Browser) -> TestResult {
    eventually("the dialog to open", || async {
        Ok(dialog_open(browser).await?.then_some(()))
    })
    .await?;
    browser
        .client
        .find(Locator::Id("dialog-ok"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// A request from the page itself (same origin, the session cookie): its status.
pub async fn from_page(browser: &Browser, method: &str, path: &str, body: &str) -> TestResult<u16> {
    let script = format!(
        "const r = new XMLHttpRequest(); r.open('{method}', '{path}', false); \
         r.setRequestHeader('content-type', 'application/json'); r.send('{body}'); return r.status;"
    );
    let status = browser.js(&script).await?;
    Ok(u16::try_from(status.as_u64().unwrap_or(0)).unwrap_or(0))
}

/// The messages of the dev mailbox sent to `to`, newest first, once there
/// are at least `at_least`.
pub async fn mails_to(gw: &str, to: &str, at_least: usize) -> TestResult<Vec<Value>> {
    let http = client::http();
    eventually(&format!("{at_least} message(s) to {to}"), || async {
        let body: Value = http
            .get(format!("{gw}/.wrnexus/dev/mail"))
            .header(ACCEPT, "application/json")
            .send()
            .await?
            .json()
            .await?;
        let found: Vec<Value> = body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["to"].as_str() == Some(to)
                    || m["to"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|t| t.as_str() == Some(to)))
            })
            .cloned()
            .collect();
        Ok((found.len() >= at_least).then_some(found))
    })
    .await
}

/// The invitation link of a message: its path.
pub fn invitation_link(message: &Value) -> TestResult<String> {
    link(
        message["text"].as_str().unwrap_or_default(),
        "/.wrnexus/invitations/",
    )
}

/// The first link in `text` whose path starts with `prefix`: its path and query.
pub fn link(text: &str, prefix: &str) -> TestResult<String> {
    let start = text
        .find(prefix)
        .ok_or_else(|| format!("no {prefix} link in the message: {text}"))?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .unwrap_or(rest.len());
    Ok(rest[..end].to_string())
}

/// Sign out of the browser and sign in as `email` from the sign-in page.
pub async fn sign_in_as(browser: &Browser, gw: &str, email: &str, return_to: &str) -> TestResult {
    browser
        .client
        .goto(&format!("{gw}/.wrnexus/signin"))
        .await?;
    browser
        .js("const r = new XMLHttpRequest(); r.open('POST', '/.wrnexus/signout', false); r.send();")
        .await?;
    browser
        .client
        .goto(&format!("{gw}/.wrnexus/signin?return_to={return_to}"))
        .await?;
    browser.submit_credentials(email, PASSWORD).await?;
    browser.wait_location(return_to).await?;
    Ok(())
}

/// Sign in with JSON: a second session of the same person.
pub async fn sign_in_json(gw: &str, email: &str, agent: &str) -> TestResult<User> {
    let response = client::http()
        .post(format!("{gw}/.wrnexus/signin"))
        .header(ACCEPT, "application/json")
        .header("user-agent", agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?;
    let set_cookie = client::session_set_cookie(&response).ok_or("sign-in set no cookie")?;
    let body: Value = response.json().await?;
    Ok(User {
        email: email.to_string(),
        id: body["user"]["id"].as_str().unwrap_or_default().to_string(),
        workspace_id: body["workspace"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        cookie: set_cookie.split(';').next().unwrap_or("").to_string(),
        set_cookie,
    })
}
