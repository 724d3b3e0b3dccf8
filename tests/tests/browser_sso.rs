//! Single sign-on in a real headless Chromium, through the split stack's
//! front door (Postgres and Redis), against a real OpenID provider and the
//! suites' DNS server. An owner connects their workspace on the console's
//! single sign-on page (the redirect URI registered at the provider is the
//! one the page shows), adds a domain, publishes the TXT record the page
//! shows, verifies it and requires single sign-on (the page is saved as
//! `console/sso.png` under the test artifacts). A new person at that domain
//! opening a deep link types only their email on the sign-in page, signs in
//! at the provider and lands back on the same link inside the workspace,
//! which the switcher lists. A member's password session is refused in the
//! workspace with a page whose link signs in through the provider and comes
//! back to the same link.

#[allow(dead_code)]
mod browser_support;
#[allow(dead_code)]
mod console_support;
#[allow(dead_code)]
mod sso_support;

use browser_support::{Browser, artifacts_dir, eventually, saved_screenshot};
use console_support::{click_button, drawn, fill, page_shot, shows, sign_in_as};
use fantoccini::Locator;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sso_support::{ACME, CLIENT_W, Db, Problems, SsoStack, account};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD, User, http};
use wrnexus_e2e::oidc::{OidcProvider, ProviderConfig};

/// A new person at the verified domain, known only to the provider.
const BOB: (&str, &str, &str) = ("bob-sub", "bob@acme.example", "bob-pw-0123456789");
/// A member with a password account from before the domain was proved.
const CAROL: (&str, &str, &str) = ("carol-sub", "carol@acme.example", "carol-pw-0123456789");
/// The page people open: a deep link with a query.
const DEEP_LINK: &str = "/reports/q3?tab=summary&page=2";
const TEAM: &str = "Acme";

/// Fail the step (its browser saves a screenshot) unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+).into());
        }
    };
}

#[tokio::test]
async fn single_sign_on_in_a_real_browser() -> TestResult {
    let Some(s) = SsoStack::start(Db::Postgres, &[]).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = flow(&s, &c, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| s.stack.logs())
}

/// Run `step` in `browser`; when it fails, a screenshot is saved as
/// `sso/NAME-failure.png` and the error says where the browser was.
async fn in_browser<T>(
    name: &str,
    browser: &Browser,
    step: impl Future<Output = TestResult<T>>,
) -> TestResult<T> {
    let result = step.await;
    if let Err(e) = &result {
        let here = browser.client.current_url().await.map(|u| u.to_string());
        let alert = alert(browser).await.unwrap_or_default();
        let _ = browser
            .screenshot(&artifacts_dir().join(format!("sso/{name}-failure.png")))
            .await;
        return Err(format!("{name}: {e} (at {here:?}; alert: {alert:?})").into());
    }
    result
}

async fn flow(s: &SsoStack, c: &Client, p: &mut Problems) -> TestResult {
    // The owner and their team W; Carol signed up with a password and joined
    // W before W proved her domain (her address proved by its mailed link,
    // written straight to the database here).
    let owner = client::sign_up(c, &s.base, &client::email("sso-owner")).await?;
    let w = client::create_workspace(c, &s.base, &owner, TEAM).await?;
    let mut carol = client::sign_up(c, &s.base, CAROL.1).await?;
    mark_verified(&s.stack.database_url, &carol.id).await?;
    client::join(c, &s.base, &owner, &mut carol, &w, "member").await?;
    let Some(carol_browser) = Browser::start().await? else {
        return Ok(());
    };
    let result = steps(s, c, p, &carol_browser, &owner, &w).await;
    carol_browser.close().await;
    result
}

/// The three steps; Carol's browser is open throughout.
async fn steps(
    s: &SsoStack,
    c: &Client,
    p: &mut Problems,
    carol_browser: &Browser,
    owner: &User,
    w: &str,
) -> TestResult {
    // Carol signs in with her password in her own browser, in W.
    in_browser("carol", carol_browser, carol_password(s, carol_browser, w)).await?;

    // 1. The owner sets single sign-on up on the console.
    let Some(owner_browser) = Browser::start().await? else {
        return Ok(());
    };
    let idp = in_browser(
        "owner",
        &owner_browser,
        console(s, &owner_browser, owner, w, p),
    )
    .await;
    owner_browser.close().await;
    let idp = idp?;
    let path = format!("/workspaces/{w}/sign-in-policy");
    let (status, policy) = s.call(c, owner, Method::GET, &path, None).await?;
    p.check(
        status == StatusCode::OK && policy["methods"] == json!(["sso"]),
        || format!("the policy the console saved: {status} {policy}"),
    );

    // 2. Bob, new, opens a deep link in a fresh browser.
    let Some(bob_browser) = Browser::start().await? else {
        return Ok(());
    };
    let bob = in_browser("bob", &bob_browser, bob_signs_in(s, &bob_browser, &idp, w)).await;
    bob_browser.close().await;
    let bob_ok = bob.is_ok();
    p.check(bob_ok, || format!("{bob:?}"));

    // 3. Carol's password session is refused in W, with the way in.
    let carol = in_browser(
        "carol",
        carol_browser,
        carol_refused(s, carol_browser, &idp, w),
    )
    .await;
    let carol_ok = carol.is_ok();
    p.check(carol_ok, || format!("{carol:?}"));
    if !(bob_ok && carol_ok) {
        eprintln!("--- provider ---\n{}", idp.output());
    }
    Ok(())
}

/// Carol signs in with her password from the deep link and is in W.
async fn carol_password(s: &SsoStack, browser: &Browser, w: &str) -> TestResult {
    browser
        .client
        .goto(&format!("{}{DEEP_LINK}", s.base))
        .await?;
    browser.wait_location("/.wrnexus/signin").await?;
    browser.submit_credentials(CAROL.1, PASSWORD).await?;
    browser.wait_location(DEEP_LINK).await?;
    if app_workspace(browser).await? != w {
        choose(browser, TEAM).await?;
        browser.wait_reloaded().await?;
    }
    let shown = app_workspace(browser).await?;
    if shown != w {
        return Err(format!("Carol's password session is in {shown}, not W ({w})").into());
    }
    Ok(())
}

/// Step 1: the owner signs in, connects W to a new provider on the console
/// (the redirect URI as the page shows it), proves the domain and requires
/// single sign-on. The provider.
async fn console(
    s: &SsoStack,
    browser: &Browser,
    owner: &User,
    w: &str,
    p: &mut Problems,
) -> TestResult<OidcProvider> {
    let page = format!("/.wrnexus/console/w/{w}/sso");
    sign_in_as(browser, &s.base, &owner.email, &page).await?;
    drawn(browser).await?;
    // The header's switcher on W too (it opens the same page there).
    if browser.shown_workspace().await?.0 != TEAM {
        choose(browser, TEAM).await?;
        let (name, _) = browser.wait_reloaded().await?;
        ensure!(name == TEAM, "the console's switcher moved to {name}");
        browser.wait_location(&page).await?;
        drawn(browser).await?;
    }
    let title = browser.text("#title").await?;
    ensure!(title == "Single sign-on", "the page's title: {title}");
    let shown_uri = browser.text("[aria-label='Redirect URI'] code").await?;
    if shown_uri != s.callback_uri() {
        return Err(format!(
            "the page shows the redirect URI {shown_uri:?}, the control plane's is {:?}",
            s.callback_uri()
        )
        .into());
    }
    let Some(idp) = OidcProvider::start(ProviderConfig {
        issuer_path: String::new(),
        clients: vec![wrnexus_e2e::oidc::Client::new(
            CLIENT_W.0, CLIENT_W.1, &shown_uri,
        )],
        accounts: [BOB, CAROL].into_iter().map(account).collect(),
    })
    .await?
    else {
        return Err("no OpenID provider (node and tests/oidc are needed)".into());
    };

    // The connection.
    fill(browser, "input[name=issuer]", &idp.issuer).await?;
    fill(browser, "input[name=client_id]", CLIENT_W.0).await?;
    fill(browser, "input[name=client_secret]", CLIENT_W.1).await?;
    click_button(browser, "Create connection").await?;
    shows(browser, "#status", "Connection created.").await?;
    drawn(browser).await?;
    let after = browser.text("#content").await?;
    ensure!(after.contains("secret set"), "after saving: {after}");
    let saved_uri = browser.text("[aria-label='Redirect URI'] code").await?;
    ensure!(
        saved_uri == shown_uri,
        "the saved redirect URI: {saved_uri}"
    );
    let source = browser.client.source().await?;
    ensure!(
        !source.contains(CLIENT_W.1),
        "the page shows the client secret"
    );

    // The domain: the record the page shows, published, then verified.
    fill(browser, "input[name=domain]", ACME).await?;
    click_button(browser, "Add domain").await?;
    shows(browser, "#status", &format!("Domain {ACME} added")).await?;
    let name = browser.text(".dns-record [aria-label='Name'] code").await?;
    let value = browser
        .text(".dns-record [aria-label='Value'] code")
        .await?;
    ensure!(
        name == format!("_wrnexus-challenge.{ACME}") && !value.is_empty(),
        "the record to publish: {name} {value:?}"
    );
    s.dns.set_txt(&name, &[value.as_str()]);
    click_button(browser, "Verify now").await?;
    shows(browser, "#status", &format!("{ACME} is verified.")).await?;
    shows(browser, "#content table", "verified").await?;

    // Require single sign-on: only this workspace's provider checked.
    for (method, want) in [("password", false), ("oidc", false), ("sso", true)] {
        let css = format!("input[name=methods][value={method}]");
        if checked(browser, &css).await? != want {
            browser
                .client
                .find(Locator::Css(&css))
                .await?
                .click()
                .await?;
        }
        ensure!(checked(browser, &css).await? == want, "the {method} box");
    }
    page_shot(browser, "sso/policy-to-save.png").await?;
    click_button(browser, "Save policy").await?;
    shows(browser, "#status", "single sign-on is required").await?;
    // The owner's password session still reaches this page (docs/sso.md:
    // owners reach these settings with any session).
    match shows(browser, "#content .badge", "single sign-on required").await {
        Ok(_) => page_shot(browser, "console/sso.png").await?,
        Err(e) => {
            saved_screenshot(browser, "sso/policy-saved-refused.png").await?;
            let why = alert(browser).await?;
            p.check(false, || {
                format!(
                    "after requiring single sign-on, the owner's console no longer draws \
                     W's single sign-on page: {e}; it says {why:?}"
                )
            });
        }
    }
    Ok(idp)
}

/// Step 2: Bob opens the deep link, gives only his email, signs in at the
/// provider and is back on the link, in W, which the switcher lists.
async fn bob_signs_in(s: &SsoStack, browser: &Browser, idp: &OidcProvider, w: &str) -> TestResult {
    browser
        .client
        .goto(&format!("{}{DEEP_LINK}", s.base))
        .await?;
    let signin = browser.wait_location("/.wrnexus/signin").await?;
    ensure!(signin.contains("return_to="), "the sign-in page: {signin}");
    fill(browser, "#email", BOB.1).await?;
    eventually("the form to offer single sign-on", || async {
        let label = browser.text("button[type=submit]").await?;
        let hidden = browser
            .js("return document.getElementById('password').hidden;")
            .await?;
        Ok((label == "Continue with single sign-on" && hidden == Value::Bool(true)).then_some(()))
    })
    .await?;
    browser
        .client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    log_in_at(browser, idp, BOB).await?;
    let here = browser.wait_location(DEEP_LINK).await?;
    ensure!(here == DEEP_LINK, "Bob came back to {here}");
    at_front(s, browser).await?;
    let path = browser.text("#path").await?;
    ensure!(path == DEEP_LINK, "the app was asked for {path}");
    let shown = app_workspace(browser).await?;
    ensure!(shown == w, "the app shows workspace {shown}, not W ({w})");
    let (name, role) = browser.shown_workspace().await?;
    ensure!(
        name == TEAM && role.starts_with("member"),
        "the switcher shows {name} as {role}"
    );
    browser.part(".trigger").await?.click().await?;
    let mut listed = Vec::new();
    for option in browser.options().await? {
        listed.push(option.text().await?);
    }
    ensure!(
        listed.len() == 2 && listed.iter().any(|o| o.contains(TEAM)),
        "the switcher lists {listed:?}, not a personal workspace and W"
    );
    saved_screenshot(browser, "sso/bob-signed-in.png").await?;
    Ok(())
}

/// Step 3: Carol's password session opens the deep link in W again: refused
/// with a page whose link signs in at the provider and comes back to it.
async fn carol_refused(s: &SsoStack, browser: &Browser, idp: &OidcProvider, w: &str) -> TestResult {
    browser
        .client
        .goto(&format!("{}{DEEP_LINK}", s.base))
        .await?;
    shows(browser, "h1", "Sign in with your organization").await?;
    let here = browser.location().await?;
    ensure!(here == DEEP_LINK, "refused at {here}");
    saved_screenshot(browser, "sso/sso-required.png").await?;
    let link = browser.client.find(Locator::Css("main a")).await?;
    let href = link.attr("href").await?.unwrap_or_default();
    let expected = sso_support::start_path(w, DEEP_LINK);
    ensure!(
        href.starts_with("/.wrnexus/sso/start?") && href.contains(&format!("workspace_id={w}")),
        "the link: {href} (expected like {expected})"
    );
    link.click().await?;
    log_in_at(browser, idp, CAROL).await?;
    let here = browser.wait_location(DEEP_LINK).await?;
    ensure!(here == DEEP_LINK, "Carol came back to {here}");
    at_front(s, browser).await?;
    let shown = app_workspace(browser).await?;
    ensure!(shown == w, "the app shows workspace {shown}, not W ({w})");
    let (name, _) = browser.shown_workspace().await?;
    ensure!(name == TEAM, "the switcher shows {name}");
    Ok(())
}

/// At the provider's login form, sign in as `who`.
async fn log_in_at(browser: &Browser, idp: &OidcProvider, who: (&str, &str, &str)) -> TestResult {
    eventually("the provider's login form", || async {
        let url = browser.client.current_url().await?;
        let at_idp = url.as_str().starts_with(&idp.issuer);
        let forms = browser
            .client
            .find_all(Locator::Css("input[name=login]"))
            .await?;
        Ok((at_idp && !forms.is_empty()).then_some(()))
    })
    .await?;
    saved_screenshot(browser, "sso/provider-login.png").await?;
    fill(browser, "input[name=login]", who.1).await?;
    fill(browser, "input[name=password]", who.2).await?;
    browser
        .client
        .find(Locator::Css("form#login button, form#login [type=submit]"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// The browser is back at the stack's front door, not elsewhere.
async fn at_front(s: &SsoStack, browser: &Browser) -> TestResult {
    let url = browser.client.current_url().await?;
    let origin = url.origin().ascii_serialization();
    if origin != s.base {
        return Err(format!("the browser ended at {url}, not at {}", s.base).into());
    }
    Ok(())
}

/// The workspace id the demo app was told, from its page.
async fn app_workspace(browser: &Browser) -> TestResult<String> {
    browser.text("#workspace-id").await
}

/// Choose the workspace named `name` in the switcher.
async fn choose(browser: &Browser, name: &str) -> TestResult {
    browser.mark_document().await?;
    browser.part(".trigger").await?.click().await?;
    for option in browser.options().await? {
        if option.text().await?.contains(name) {
            option.click().await?;
            return Ok(());
        }
    }
    Err(format!("no {name} in the switcher").into())
}

/// Whether the checkbox `css` is checked.
async fn checked(browser: &Browser, css: &str) -> TestResult<bool> {
    let script = format!("return document.querySelector(\"{css}\").checked;");
    Ok(browser.js(&script).await? == Value::Bool(true))
}

/// The console's alert, when shown.
async fn alert(browser: &Browser) -> TestResult<String> {
    let shown = browser
        .js("const a = document.getElementById('alert'); return a && !a.hidden ? a.textContent : '';")
        .await?;
    Ok(shown.as_str().unwrap_or_default().to_string())
}

/// Record `user_id`'s email as verified, as its mailed link would.
async fn mark_verified(database_url: &str, user_id: &str) -> TestResult {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    sqlx::query("UPDATE users SET email_verified_at = $1 WHERE id = $2")
        .bind(i64::try_from(now)?)
        .bind(user_id)
        .execute(&mut conn)
        .await?;
    Ok(())
}
