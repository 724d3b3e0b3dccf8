//! Headless Chromium driven over WebDriver: finding the browser, starting
//! `chromedriver` on a free port, and helpers for the `<wrnexus-switcher>`
//! (its shadow DOM, keys, waiting for what a person would see).

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::{Element, ShadowRoot};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::process::{Proc, free_port, wait_ready};

/// How long a person would wait for something to appear.
const PATIENCE: Duration = Duration::from_secs(15);

/// The flags the closed network and a shared machine need.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,760",
];

/// The first of `names` on `PATH` (or the path in `env`, when set).
fn program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A browser session; [`Browser::close`] ends it (chromedriver stops on drop).
pub struct Browser {
    pub client: Client,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a fresh headless Chromium. `None` (after a loud
    /// message) when either is missing, unless `WRNEXUS_REQUIRE_SERVICES=1`.
    pub async fn start() -> TestResult<Option<Browser>> {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium flags.
    pub async fn start_with(extra_flags: &[String]) -> TestResult<Option<Browser>> {
        let chromium = program(
            "WRNEXUS_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let driver = program("WRNEXUS_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let message =
                "chromium and chromedriver are needed (apt-get install chromium chromium-driver)";
            if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
                return Err(format!("the browser suite is required: {message}").into());
            }
            eprintln!("\n!!! SKIPPING the browser suite: {message} !!!\n");
            return Ok(None);
        };
        let profile = tempfile::tempdir()?;
        let port = free_port()?;
        let mut proc = Proc::spawn_program(
            &driver,
            "chromedriver",
            profile.path(),
            &[&format!("--port={port}"), "--allowed-ips=127.0.0.1"],
            &[],
        )?;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{url}/status"), &mut proc, Duration::from_secs(30)).await?;
        let user_data = profile.path().join("chromium");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", user_data.display()));
        args.extend(extra_flags.iter().cloned());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium.display().to_string(), "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return Err(format!(
                    "no browser session: {e}; chromedriver log:\n{}",
                    proc.output()
                )
                .into());
            }
        };
        Ok(Some(Browser {
            client,
            _driver: proc,
            _profile: profile,
        }))
    }

    /// End the session (Chromium exits), then chromedriver.
    pub async fn close(self) {
        if let Err(e) = self.client.clone().close().await {
            eprintln!("closing the browser session failed: {e}");
        }
    }

    /// Press `keys` one after another on whatever has the focus.
    pub async fn press(&self, keys: &[Key]) -> TestResult {
        let mut actions = KeyActions::new("keyboard".to_string());
        for key in keys {
            let value = char::from(*key);
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client.perform_actions(actions).await?;
        Ok(())
    }

    /// Run `script` (a function body) and return its value.
    pub async fn js(&self, script: &str) -> TestResult<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// The switcher's shadow root, once the element exists.
    pub async fn switcher(&self) -> TestResult<ShadowRoot> {
        let host = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("wrnexus-switcher"))
            .await?;
        Ok(host.shadow_root().await?)
    }

    /// An element inside the switcher.
    pub async fn part(&self, css: &str) -> TestResult<Element> {
        Ok(self.switcher().await?.find(Locator::Css(css)).await?)
    }

    /// `(workspace name, role line)` the switcher's button shows, once loaded.
    pub async fn shown_workspace(&self) -> TestResult<(String, String)> {
        eventually("the switcher to load", || async {
            let name = self.part(".trigger .name").await?.text().await?;
            let role = self.part(".trigger .role").await?.text().await?;
            Ok((!name.is_empty() && name != "Loading…").then_some((name, role)))
        })
        .await
    }

    /// The option elements of the open list.
    pub async fn options(&self) -> TestResult<Vec<Element>> {
        Ok(self
            .switcher()
            .await?
            .find_all(Locator::Css("[role=option]"))
            .await?)
    }

    /// Mark the current document, to tell a reload from an in-place update.
    pub async fn mark_document(&self) -> TestResult {
        self.js("window.__wrnexusMark = true;").await?;
        Ok(())
    }

    /// Wait for a new document (the mark gone) with the switcher loaded.
    pub async fn wait_reloaded(&self) -> TestResult<(String, String)> {
        eventually("the page to reload", || async {
            let marked = self.js("return window.__wrnexusMark === true;").await?;
            Ok((marked == Value::Bool(false)).then_some(()))
        })
        .await?;
        self.shown_workspace().await
    }

    /// The current URL's path and query.
    pub async fn location(&self) -> TestResult<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        })
    }

    /// Wait until the page's path and query start with `prefix`; them.
    pub async fn wait_location(&self, prefix: &str) -> TestResult<String> {
        eventually(&format!("a page at {prefix}"), || async {
            let here = self.location().await?;
            Ok(here.starts_with(prefix).then_some(here))
        })
        .await
    }

    /// Wait until the page's path and query are exactly `target` (a
    /// prefix would match the page the browser is leaving, whose elements
    /// go stale under a search).
    pub async fn wait_exact_location(&self, target: &str) -> TestResult<String> {
        eventually(&format!("the page {target}"), || async {
            let here = self.location().await?;
            Ok((here == target).then_some(here))
        })
        .await
    }

    /// The current value of the form field `css`.
    pub async fn value(&self, css: &str) -> TestResult<String> {
        let field = self.client.find(Locator::Css(css)).await?;
        Ok(field.prop("value").await?.unwrap_or_default())
    }

    /// The text of the element `css` on the page, once it is there (a form
    /// post may still be loading the page that shows it).
    pub async fn text(&self, css: &str) -> TestResult<String> {
        let element = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await?;
        Ok(element.text().await?)
    }

    /// From the sign-in page, follow "Create an account" to sign-up.
    pub async fn to_signup(&self) -> TestResult {
        self.client
            .find(Locator::LinkText("Create an account"))
            .await?
            .click()
            .await?;
        self.wait_location("/.wrnexus/signup").await?;
        Ok(())
    }

    /// Fill the sign-in or sign-up form and submit it.
    pub async fn submit_credentials(&self, email: &str, password: &str) -> TestResult {
        let field = self.client.find(Locator::Id("email")).await?;
        field.clear().await?;
        field.send_keys(email).await?;
        let field = self.client.find(Locator::Id("password")).await?;
        field.clear().await?;
        field.send_keys(password).await?;
        self.client
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// Save a PNG of the window to `path`; its bytes.
    pub async fn screenshot(&self, path: &Path) -> TestResult<Vec<u8>> {
        let png = self.client.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png)?;
        Ok(png)
    }
}

/// Save a screenshot as `name` under the test artifacts and check that it
/// is a PNG with something in it; its path (used by the console suite).
#[allow(dead_code)]
pub async fn saved_screenshot(browser: &Browser, name: &str) -> TestResult<PathBuf> {
    let path = artifacts_dir().join(name);
    let png = browser.screenshot(&path).await?;
    let saved = std::fs::read(&path)?;
    if png.len() < 1000 || !saved.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(format!("{} is no PNG with content", path.display()).into());
    }
    Ok(path)
}

/// Poll `check` until it yields a value, for up to [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Option<T>>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("not yet"),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!("gave up waiting for {what}: {last}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where test artifacts go: `$CARGO_TARGET_DIR/test-artifacts`, else the
/// workspace's `target/test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-artifacts")
}
