//! A real OpenID provider for the single sign-on suites: `oidc-provider`
//! (npm) run by Node from `tests/oidc/provider.mjs`, one process per
//! provider, on a free loopback port; and a browser-like walk through its
//! sign-in and sign-out pages.
//!
//! Node 20 and `npm ci --prefix tests/oidc` are needed; without them the
//! suites skip loudly, or fail under `WRNEXUS_REQUIRE_SERVICES=1`
//! ([`crate::services::absent`]).

use crate::TestResult;
use crate::services::absent;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What the provider knows: its clients (relying parties) and accounts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProviderConfig {
    /// A path the issuer lives under (`/realms/acme`), or empty.
    pub issuer_path: String,
    pub clients: Vec<Client>,
    pub accounts: Vec<Account>,
}

/// A relying party registered at the provider.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// `client_secret_basic` unless set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
}

impl Client {
    pub fn new(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        Client {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_uris: vec![redirect_uri.to_string()],
            ..Client::default()
        }
    }

    /// Back-channel logouts go to `uri`, with the session's `sid`.
    pub fn backchannel_logout(mut self, uri: &str) -> Self {
        self.backchannel_logout_uri = Some(uri.to_string());
        self.backchannel_logout_session_required = true;
        self
    }

    /// After an RP-initiated logout the provider may send the browser to `uri`.
    pub fn post_logout_redirect(mut self, uri: &str) -> Self {
        self.post_logout_redirect_uris.push(uri.to_string());
        self
    }
}

/// A person at the provider; `login` on the form is the email or the `sub`.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub password: String,
    /// Further claims (`name`, ...).
    pub claims: serde_json::Map<String, Value>,
}

impl Account {
    /// An account whose email the provider vouches for.
    pub fn new(sub: &str, email: &str, password: &str) -> Self {
        Account {
            sub: sub.to_string(),
            email: email.to_string(),
            email_verified: true,
            password: password.to_string(),
            claims: serde_json::Map::new(),
        }
    }
}

/// Where the provider sent the browser back to (the relying party's
/// redirect URI), with what it carried.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub callback: String,
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

impl SignIn {
    fn from_url(callback: Url) -> Self {
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        SignIn {
            code: param("code"),
            state: param("state"),
            iss: param("iss"),
            error: param("error"),
            callback: callback.to_string(),
        }
    }
}

/// The relying party's answer to the callback.
#[derive(Debug, Clone)]
pub struct Landing {
    pub sign_in: SignIn,
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

/// A running provider; the process is killed when this is dropped.
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT[/issuer_path]`.
    pub issuer: String,
    pub config: ProviderConfig,
    http: reqwest::Client,
    child: tokio::process::Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Start a provider; `None` (after a loud message) when Node or the npm
    /// packages are missing and services are not required.
    pub async fn start(config: ProviderConfig) -> TestResult<Option<Self>> {
        let settings = serde_json::to_value(&config)?;
        Self::start_with(config, settings).await
    }

    /// [`OidcProvider::start`] for a provider listening on `port` but known
    /// as `issuer`: a proxy in front of it that forwards every request with
    /// its `Host` header kept (so discovery names the proxy's endpoints).
    pub async fn start_behind(
        config: ProviderConfig,
        port: u16,
        issuer: &str,
    ) -> TestResult<Option<Self>> {
        let mut settings = serde_json::to_value(&config)?;
        settings["port"] = json!(port);
        settings["issuer"] = json!(issuer);
        Self::start_with(config, settings).await
    }

    async fn start_with(config: ProviderConfig, settings: Value) -> TestResult<Option<Self>> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc");
        if let Err(why) = node_20() {
            return absent("node", &why);
        }
        if !dir
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            return absent(
                "oidc-provider",
                "tests/oidc/node_modules is missing: run `npm ci --prefix tests/oidc`",
            );
        }
        let logs = tempfile::tempdir()?;
        let log = logs.path().join("oidc-provider.log");
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("provider.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()?;
        let mut stdin = child.stdin.take().ok_or("no stdin to the provider")?;
        stdin.write_all(&serde_json::to_vec(&settings)?).await?;
        drop(stdin);
        let stdout = child.stdout.take().ok_or("no stdout from the provider")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let output = || std::fs::read_to_string(&log).unwrap_or_default();
        let line = match first {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return Err(format!("the OpenID provider exited:\n{}", output()).into()),
            Ok(Err(e)) => return Err(format!("reading the OpenID provider: {e}").into()),
            Err(_) => {
                return Err(
                    format!("the OpenID provider did not start in 30s:\n{}", output()).into(),
                );
            }
        };
        #[derive(Deserialize)]
        struct Ready {
            issuer: String,
        }
        let ready: Ready = serde_json::from_str(&line)
            .map_err(|e| format!("unexpected first line from the provider ({e}): {line}"))?;
        // Whatever else comes on stdout is read and dropped.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Some(OidcProvider {
            issuer: ready.issuer,
            config,
            http: reqwest::Client::new(),
            child,
            log,
            _dir: logs,
        }))
    }

    /// What the provider wrote to stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client that keeps cookies and follows no redirects: a browser for
    /// [`OidcProvider::login`].
    pub fn browser() -> TestResult<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?)
    }

    pub async fn discovery(&self) -> TestResult<Value> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    pub async fn jwks(&self) -> TestResult<Value> {
        let url = format!("{}/jwks", self.issuer);
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// A new signing key, first in the JWKS (new tokens are signed with it);
    /// with `retire`, the older keys leave the JWKS. The new `kid`.
    pub async fn rotate_keys(&self, retire: bool) -> TestResult<String> {
        let answer: Value = self
            .http
            .post(format!("{}/__test/rotate", self.issuer))
            .json(&json!({ "retire": retire }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let kid = answer["kid"].as_str().ok_or("no kid from the rotation")?;
        Ok(kid.to_string())
    }

    /// Have the provider send `client_id` a back-channel logout for `sub`'s
    /// session `sid`; the answer (`{"ok": bool, "status", "error"}`).
    pub async fn try_backchannel_logout(
        &self,
        client_id: &str,
        sub: &str,
        sid: Option<&str>,
    ) -> TestResult<Value> {
        let response = self
            .http
            .post(format!("{}/__test/backchannel-logout", self.issuer))
            .json(&json!({ "client_id": client_id, "sub": sub, "sid": sid }))
            .send()
            .await?;
        Ok(response.json().await?)
    }

    /// [`OidcProvider::try_backchannel_logout`], failing unless the client
    /// answered 200 or 204.
    pub async fn backchannel_logout(&self, client_id: &str, sub: &str, sid: &str) -> TestResult {
        let answer = self
            .try_backchannel_logout(client_id, sub, Some(sid))
            .await?;
        if answer["ok"] == true {
            Ok(())
        } else {
            Err(format!("the back-channel logout to {client_id} failed: {answer}").into())
        }
    }

    fn at_provider(&self, url: &Url) -> bool {
        let url = url.as_str();
        url == self.issuer || url.starts_with(&format!("{}/", self.issuer))
    }

    /// Open `start_url` (the relying party's sign-in start, or the
    /// provider's authorization URL) with `browser`, follow redirects, fill
    /// in the provider's login form, and stop at the first redirect out of
    /// the provider: the relying party's callback, not yet visited.
    pub async fn login(
        &self,
        browser: &reqwest::Client,
        start_url: &str,
        login: &str,
        password: &str,
    ) -> TestResult<SignIn> {
        let mut url = Url::parse(start_url)?;
        let mut response = browser.get(url.clone()).send().await?;
        let mut visited = self.at_provider(&url);
        let mut submitted = false;
        for _ in 0..20 {
            let status = response.status();
            if status.is_redirection() {
                let next = location(&url, &response)?;
                if visited && !self.at_provider(&next) {
                    return Ok(SignIn::from_url(next));
                }
                visited |= self.at_provider(&next);
                url = next;
                response = browser.get(url.clone()).send().await?;
                continue;
            }
            let body = response.text().await?;
            if status != StatusCode::OK
                || !self.at_provider(&url)
                || !body.contains("name=\"login\"")
            {
                return Err(format!(
                    "expected the provider's login form at {url}, got {status}: {body}"
                )
                .into());
            }
            if submitted {
                return Err(format!("the provider refused {login:?}: {body}").into());
            }
            let action = attribute_after(&body, "id=\"login\"", "action")
                .ok_or_else(|| format!("no action on the login form: {body}"))?;
            url = url.join(&action)?;
            response = browser
                .post(url.clone())
                .form(&[("login", login), ("password", password)])
                .send()
                .await?;
            submitted = true;
        }
        Err(format!("more than 20 steps signing in from {start_url}").into())
    }

    /// [`OidcProvider::login`], then the callback opened at the relying
    /// party with the same browser; its answer (not followed further).
    pub async fn login_to_rp(
        &self,
        browser: &reqwest::Client,
        start_url: &str,
        login: &str,
        password: &str,
    ) -> TestResult<Landing> {
        let sign_in = self.login(browser, start_url, login, password).await?;
        let callback = Url::parse(&sign_in.callback)?;
        let response = browser.get(callback.clone()).send().await?;
        let status = response.status();
        let location = if status.is_redirection() {
            Some(location(&callback, &response)?.to_string())
        } else {
            None
        };
        let body = response.text().await?;
        Ok(Landing {
            sign_in,
            status,
            location,
            body,
        })
    }

    /// Open `url` (the relying party's sign-out, or the provider's end
    /// session URL) with `browser`, follow redirects, confirm the
    /// provider's logout page; where the provider sent the browser after
    /// (the post-logout redirect URI), or `None` when it ended on its own
    /// page.
    pub async fn logout(&self, browser: &reqwest::Client, url: &str) -> TestResult<Option<String>> {
        let mut url = Url::parse(url)?;
        let mut response = browser.get(url.clone()).send().await?;
        let mut visited = self.at_provider(&url);
        let mut confirmed = false;
        for _ in 0..20 {
            let status = response.status();
            if status.is_redirection() {
                let next = location(&url, &response)?;
                if visited && !self.at_provider(&next) {
                    return Ok(Some(next.to_string()));
                }
                visited |= self.at_provider(&next);
                url = next;
                response = browser.get(url.clone()).send().await?;
                continue;
            }
            let body = response.text().await?;
            if !self.at_provider(&url) || !status.is_success() {
                return Err(format!("unexpected {status} at {url} signing out: {body}").into());
            }
            if confirmed {
                return Ok(None);
            }
            let action = attribute_after(&body, "<form", "action")
                .ok_or_else(|| format!("no logout form at {url}: {body}"))?;
            let xsrf = attribute_after(&body, "name=\"xsrf\"", "value")
                .ok_or_else(|| format!("no xsrf on the logout form at {url}: {body}"))?;
            url = url.join(&action)?;
            response = browser
                .post(url.clone())
                .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
                .send()
                .await?;
            confirmed = true;
        }
        Err("more than 20 steps signing out".into())
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `Ok` when `node --version` says 20 or later.
fn node_20() -> Result<(), String> {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("no node binary: {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 20 => Ok(()),
        _ => Err(format!("node 20 or later is needed, found {version:?}")),
    }
}

fn location(base: &Url, response: &reqwest::Response) -> TestResult<Url> {
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| format!("a {} without Location from {base}", response.status()))?
        .to_str()?;
    Ok(base.join(value)?)
}

/// The value of `attr="..."` first found after `anchor` in `html`,
/// unescaped.
fn attribute_after(html: &str, anchor: &str, attr: &str) -> Option<String> {
    let rest = &html[html.find(anchor)?..];
    let marker = format!("{attr}=\"");
    let rest = &rest[rest.find(&marker)? + marker.len()..];
    Some(unescape(&rest[..rest.find('"')?]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity
                .strip_prefix('#')
                .and_then(|n| match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                })
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
