//! The workspace switcher and the sign-in pages in a real headless Chromium,
//! through the gateway of `wrnexus dev`: sign up, create a team workspace,
//! switch by mouse and by keyboard alone (the deep link surviving every
//! reload), sign out, and sign in again into the last-used workspace.
//! And `wrnexus dev --tls-cert … --tls-key …` at a host name that is not
//! `localhost` (as from another machine): the `__Host-…; Secure` session
//! cookie set over HTTPS sticks, and the next visit is served signed in.

mod browser_support;

use browser_support::{Browser, artifacts_dir, eventually};
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::Value;
use std::process::{Command, Stdio};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::certs::ServerCerts;
use wrnexus_e2e::client::{self, PASSWORD};
use wrnexus_e2e::stack::{OPERATOR_TOKEN, Stack};

/// The page a person bookmarked, with a query the flow must keep.
const DEEP_LINK: &str = "/projects/42?tab=x";

#[tokio::test]
async fn switcher_flow_in_a_real_browser() -> TestResult {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let stack = Stack::embedded().await?;
    let result = flow(&browser, &stack).await;
    browser.close().await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

/// The workspace id the demo app was told, from its page.
async fn app_workspace(browser: &Browser) -> TestResult<String> {
    browser.text("#workspace-id").await
}

/// Whether the switcher's list is open, as the button announces it.
async fn expanded(browser: &Browser) -> TestResult<bool> {
    let trigger = browser.part(".trigger").await?;
    Ok(trigger.attr("aria-expanded").await?.as_deref() == Some("true"))
}

/// Which element inside the switcher has the focus (its class), if any.
async fn focused_part(browser: &Browser) -> TestResult<String> {
    let v = browser
        .js(
            "const a = document.querySelector('wrnexus-switcher').shadowRoot.activeElement; \
             return a ? (a.className || a.tagName.toLowerCase()) : '';",
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

/// The text of the option the list marks active (aria-activedescendant).
async fn active_option(browser: &Browser) -> TestResult<String> {
    let v = browser
        .js(
            "const r = document.querySelector('wrnexus-switcher').shadowRoot; \
             const id = r.querySelector('[role=listbox]').getAttribute('aria-activedescendant'); \
             const o = id && r.getElementById(id); return o ? o.textContent : '';",
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

async fn flow(browser: &Browser, stack: &Stack) -> TestResult {
    let gw = stack.gateway.as_str();
    let email = client::email("browser");

    // A signed-out visit to a deep link lands on sign-in, which links to
    // sign-up; both keep where the person was going.
    browser.client.goto(&format!("{gw}{DEEP_LINK}")).await?;
    assert_eq!(
        browser.location().await?,
        "/.wrnexus/signin?return_to=/projects/42%3Ftab%3Dx"
    );
    browser.to_signup().await?;
    assert_eq!(browser.value("input[name=return_to]").await?, DEEP_LINK);

    // A weak password is refused with a sentence saying why; the email stays.
    browser.submit_credentials(&email, "short").await?;
    let error = browser.text("[role=alert]").await?;
    assert!(error.contains("at least 10 characters"), "{error}");
    assert_eq!(browser.value("#email").await?, email);
    let password = browser.client.find(Locator::Id("password")).await?;
    assert_eq!(
        password.attr("aria-invalid").await?.as_deref(),
        Some("true")
    );
    browser
        .screenshot(&artifacts_dir().join("signup-weak-password.png"))
        .await?;

    // Signing up lands on the deep link, in the personal workspace.
    browser.submit_credentials(&email, PASSWORD).await?;
    assert_eq!(browser.wait_location("/projects/").await?, DEEP_LINK);
    assert_eq!(browser.text("#path").await?, DEEP_LINK);
    let (personal_name, role) = browser.shown_workspace().await?;
    assert!(role.starts_with("owner"), "{role}");
    let personal_id = app_workspace(browser).await?;

    // The list opens with the current workspace selected.
    browser.part(".trigger").await?.click().await?;
    assert!(expanded(browser).await?);
    let options = browser.options().await?;
    assert_eq!(options.len(), 1);
    assert_eq!(
        options[0].attr("aria-selected").await?.as_deref(),
        Some("true")
    );
    assert!(options[0].text().await?.contains(&personal_name));

    // Create a team workspace from the switcher: it switches there and the
    // page reloads at the same deep link.
    browser.part(".create").await?.click().await?;
    let input = browser.part("form input").await?;
    input.send_keys("Acme Research").await?;
    browser.mark_document().await?;
    input.send_keys(&Key::Enter.to_string()).await?;
    let (name, role) = browser.wait_reloaded().await?;
    assert_eq!((name.as_str(), role.as_str()), ("Acme Research", "owner"));
    assert_eq!(browser.location().await?, DEEP_LINK);
    let team_id = app_workspace(browser).await?;
    assert_ne!(team_id, personal_id, "the app still sees the old workspace");

    // Personal first, then teams; the current one selected.
    browser.part(".trigger").await?.click().await?;
    let options = browser.options().await?;
    assert_eq!(options.len(), 2);
    assert!(options[0].text().await?.contains(&personal_name));
    assert!(options[1].text().await?.contains("Acme Research"));
    assert_eq!(
        options[1].attr("aria-selected").await?.as_deref(),
        Some("true")
    );
    let fits = browser
        .js(
            "const p = document.querySelector('wrnexus-switcher').shadowRoot.querySelector('.panel'); \
             const r = p.getBoundingClientRect(); \
             return window.scrollX === 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth;",
        )
        .await?;
    assert_eq!(fits, Value::Bool(true), "the open list leaves the window");
    let shot = browser
        .screenshot(&artifacts_dir().join("switcher-open.png"))
        .await?;
    assert!(shot.len() > 1000 && shot.starts_with(b"\x89PNG\r\n\x1a\n"));
    let saved = std::fs::read(artifacts_dir().join("switcher-open.png"))?;
    assert!(
        saved.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the artifact is no PNG"
    );

    // One click on the personal workspace switches back, same deep link.
    browser.mark_document().await?;
    options[0].click().await?;
    let (name, _) = browser.wait_reloaded().await?;
    assert_eq!(name, personal_name);
    assert_eq!(browser.location().await?, DEEP_LINK);
    assert_eq!(app_workspace(browser).await?, personal_id);

    keyboard_switch(browser, &personal_name).await?;
    assert_eq!(app_workspace(browser).await?, team_id);

    // Sign out from the switcher: the sign-in page, coming back here.
    browser.part(".trigger").await?.click().await?;
    browser.part(".signout").await?.click().await?;
    browser.wait_location("/.wrnexus/signin").await?;
    assert_eq!(browser.value("input[name=return_to]").await?, DEEP_LINK);
    let whoami = browser
        .js("const r = new XMLHttpRequest(); r.open('GET', '/.wrnexus/whoami', false); r.send(); return r.status;")
        .await?;
    assert_eq!(whoami, Value::from(401), "still signed in after sign-out");

    // A wrong password says so and keeps the email.
    browser
        .submit_credentials(&email, "not the password at all")
        .await?;
    let error = browser.text("[role=alert]").await?;
    assert!(error.contains("Wrong email or password"), "{error}");
    browser
        .screenshot(&artifacts_dir().join("signin-wrong-password.png"))
        .await?;
    assert_eq!(browser.value("#email").await?, email);

    // Signing in lands on the deep link, in the last-used workspace.
    browser.submit_credentials(&email, PASSWORD).await?;
    assert_eq!(browser.wait_location("/projects/").await?, DEEP_LINK);
    let (name, _) = browser.shown_workspace().await?;
    assert_eq!(name, "Acme Research");
    assert_eq!(app_workspace(browser).await?, team_id);

    // An operator suspends the team (say, for non-payment): the switcher
    // says it is read-only, on the button and in the list.
    let suspended = client::http()
        .post(format!(
            "{gw}/.wrnexus/api/v1/operator/workspaces/{team_id}/suspend"
        ))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await?;
    assert!(suspended.status().is_success(), "{}", suspended.status());
    browser.client.refresh().await?;
    let role = eventually("the read-only mark", || async {
        let (_, role) = browser.shown_workspace().await?;
        Ok(role.contains("read-only").then_some(role))
    })
    .await?;
    assert_eq!(role, "owner · read-only");
    browser.part(".trigger").await?.click().await?;
    let options = browser.options().await?;
    assert!(options[1].text().await?.contains("read-only"));
    assert!(!options[0].text().await?.contains("read-only"));
    browser
        .screenshot(&artifacts_dir().join("switcher-read-only.png"))
        .await?;
    browser.press(&[Key::Escape]).await?;

    // Signed out in another tab: a switch fails inline, nothing reloads.
    browser.part(".trigger").await?.click().await?;
    browser.mark_document().await?;
    browser
        .js("const r = new XMLHttpRequest(); r.open('POST', '/.wrnexus/signout', false); r.send();")
        .await?;
    browser.options().await?[0].click().await?;
    let alert = eventually("the inline error", || async {
        let text = browser.part("[role=alert]").await?.text().await?;
        Ok((!text.is_empty()).then_some(text))
    })
    .await?;
    assert!(
        alert.contains(&format!("Could not switch to {personal_name}")),
        "{alert}"
    );
    assert_eq!(
        browser.js("return window.__wrnexusMark === true;").await?,
        Value::Bool(true)
    );
    assert_eq!(browser.location().await?, DEEP_LINK);
    Ok(())
}

/// Keyboard only: Tab to the button, open with the arrow key, move with
/// End/Home/arrows, Escape closes and gives the focus back, Enter switches.
async fn keyboard_switch(browser: &Browser, personal_name: &str) -> TestResult {
    browser
        .js("document.activeElement && document.activeElement.blur();")
        .await?;
    browser.press(&[Key::Tab]).await?;
    assert_eq!(focused_part(browser).await?, "trigger");
    let outline = browser
        .js(
            "const b = document.querySelector('wrnexus-switcher').shadowRoot.querySelector('.trigger'); \
             return getComputedStyle(b).outlineStyle;",
        )
        .await?;
    assert_ne!(
        outline,
        Value::from("none"),
        "no visible focus on the button"
    );

    browser.press(&[Key::Down]).await?;
    assert!(expanded(browser).await?);
    assert!(active_option(browser).await?.contains(personal_name));
    browser.press(&[Key::End]).await?;
    assert!(active_option(browser).await?.contains("Acme Research"));
    browser.press(&[Key::Home]).await?;
    assert!(active_option(browser).await?.contains(personal_name));
    // Tab reaches the actions below the list, which stays open.
    browser.press(&[Key::Tab]).await?;
    assert_eq!(focused_part(browser).await?, "action create");
    assert!(expanded(browser).await?);

    browser.press(&[Key::Escape]).await?;
    assert!(!expanded(browser).await?);
    assert_eq!(focused_part(browser).await?, "trigger");

    browser.press(&[Key::Enter]).await?;
    assert!(expanded(browser).await?);
    browser.press(&[Key::Escape]).await?;
    browser.press(&[Key::Space]).await?;
    assert!(expanded(browser).await?, "Space does not open the list");
    browser.press(&[Key::Down]).await?;
    assert!(active_option(browser).await?.contains("Acme Research"));
    browser.mark_document().await?;
    browser.press(&[Key::Enter]).await?;
    let (name, _) = browser.wait_reloaded().await?;
    assert_eq!(name, "Acme Research");
    assert_eq!(browser.location().await?, DEEP_LINK);
    Ok(())
}

/// The name the browser uses for the dev machine (over HTTPS).
const HOST: &str = "dev.wrnexus.test";

/// The base64 SHA-256 of a certificate's public key, as Chromium's
/// `--ignore-certificate-errors-spki-list` takes it (made with openssl).
fn spki_hash(cert_pem: &str) -> TestResult<String> {
    use std::io::Write;
    let script = "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der \
                  | openssl dgst -sha256 -binary | openssl base64 -A";
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(cert_pem.as_bytes())?;
    let out = child.wait_with_output()?;
    let hash = String::from_utf8(out.stdout)?.trim().to_string();
    if !out.status.success() || hash.len() != 44 {
        return Err(format!("no SPKI hash from openssl: {hash:?}").into());
    }
    Ok(hash)
}

#[tokio::test]
async fn the_secure_cookie_sticks_over_https_at_another_host_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let certs = ServerCerts::for_names("wrnexus browser TLS CA", &[HOST, "127.0.0.1"])?;
    let files = certs.write(dir.path())?;
    let flags = vec![
        format!("--host-resolver-rules=MAP {HOST} 127.0.0.1"),
        format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_hash(&certs.cert)?
        ),
    ];
    let Some(browser) = Browser::start_with(&flags).await? else {
        return Ok(());
    };
    let stack = Stack::embedded_tls(&files).await?;
    let result = tls_flow(&browser, &stack).await;
    browser.close().await;
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

async fn tls_flow(browser: &Browser, stack: &Stack) -> TestResult {
    let port = stack.gateway.rsplit(':').next().ok_or("no port")?;
    let base = format!("https://{HOST}:{port}");
    browser.client.goto(&format!("{base}/")).await?;
    browser.wait_location("/.wrnexus/signin").await?;
    browser.to_signup().await?;
    browser
        .submit_credentials(&client::email("browser-tls"), PASSWORD)
        .await?;
    // Signed up: the demo app, over HTTPS, told the request came over it.
    browser.wait_exact_location("/").await?;
    let page = browser.text("body").await?;
    assert!(!page.contains("Sign in"), "{page}");

    // The cookie stuck: a new visit is served, not sent to sign in.
    browser
        .client
        .goto(&format!("{base}/projects/7?tab=a"))
        .await?;
    assert_eq!(browser.location().await?, "/projects/7?tab=a");
    assert_eq!(browser.text("#path").await?, "/projects/7?tab=a");
    let url = browser.client.current_url().await?;
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some(HOST));
    // The session cookie is HttpOnly: the page's script cannot read it.
    let visible = browser.js("return document.cookie").await?;
    assert!(
        !visible.as_str().unwrap_or("").contains(client::COOKIE_NAME),
        "{visible}"
    );
    Ok(())
}
