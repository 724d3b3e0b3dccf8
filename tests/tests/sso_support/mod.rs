//! What the single sign-on suites share: a split stack configured for
//! single sign-on (its public URL a front door known before it starts, a
//! secrets key, loopback providers and webhooks allowed, the suites' DNS
//! server as resolver, the re-check worker off), on Postgres or SQLite; the
//! owner's API calls through the gateway; a sign-in through a provider
//! walked like a browser would; the audit log.

pub mod net;
pub mod proxy;

use net::{Front, Hooks};
use reqwest::header::{ACCEPT, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{COOKIE_NAME, User, session_set_cookie};
use wrnexus_e2e::dns::DnsServer;
use wrnexus_e2e::oidc::{Account, Client as RpClient, OidcProvider};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;

/// The secrets key the stacks seal client secrets with (a test fixture).
pub const SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// How long a webhook may take to arrive.
pub const HOOK_WAIT: Duration = Duration::from_secs(20);

/// Which database the control plane runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// A split stack set up for single sign-on, reached at `base` (its public
/// URL: a relay to the gateway).
pub struct SsoStack {
    pub stack: Stack,
    pub base: String,
    pub dns: DnsServer,
    pub hooks: Hooks,
    _front: Front,
    _db: Option<tempfile::TempDir>,
}

impl SsoStack {
    /// `None` (after a loud message) when a service is missing and not
    /// required. `gateway_env`: extra settings of every gateway.
    pub async fn start(db: Db, gateway_env: &[(&str, &str)]) -> TestResult<Option<SsoStack>> {
        Self::start_with(db, gateway_env, &[]).await
    }

    /// [`SsoStack::start`] with control-plane settings of the caller's,
    /// which win over the ones made here.
    pub async fn start_with(
        db: Db,
        gateway_env: &[(&str, &str)],
        control_plane_extra: &[(&str, &str)],
    ) -> TestResult<Option<SsoStack>> {
        let front = Front::bind().await?;
        Self::start_at(front, db, gateway_env, control_plane_extra).await
    }

    /// [`SsoStack::start_with`] behind a front door bound beforehand (so a
    /// provider the control plane is configured with can be told the
    /// redirect URI first: [`callback_uri_at`]).
    pub async fn start_at(
        front: Front,
        db: Db,
        gateway_env: &[(&str, &str)],
        control_plane_extra: &[(&str, &str)],
    ) -> TestResult<Option<SsoStack>> {
        let (database_url, dir) = match db {
            Db::Postgres => match fresh_postgres().await? {
                Some(url) => (url, None),
                None => return Ok(None),
            },
            Db::Sqlite => {
                let dir = tempfile::tempdir()?;
                let file = dir.path().join("wrnexus.sqlite");
                (format!("sqlite://{}?mode=rwc", file.display()), Some(dir))
            }
        };
        if redis().await?.is_none() {
            return Ok(None);
        }
        let dns = DnsServer::start().await?;
        let hooks = Hooks::start().await?;
        let resolver = dns.addr.to_string();
        let mut control_plane_env = vec![
            ("WRNEXUS_CONTROL_PLANE__PUBLIC_URL", front.url.as_str()),
            ("WRNEXUS_SECRETS_KEY", SECRETS_KEY),
            ("WRNEXUS_CONTROL_PLANE__SSO_ALLOW_NETWORKS", "127.0.0.0/8"),
            ("WRNEXUS_CONTROL_PLANE__DNS_RESOLVER", resolver.as_str()),
            ("WRNEXUS_CONTROL_PLANE__DOMAIN_WORKER_ENABLED", "false"),
            (
                "WRNEXUS_CONTROL_PLANE__WEBHOOK_ALLOW_NETWORKS",
                "127.0.0.0/8",
            ),
            ("WRNEXUS_CONTROL_PLANE__WEBHOOK_POLL_INTERVAL_MS", "200"),
            ("WRNEXUS_CONTROL_PLANE__SIGNIN_RATE_PER_MINUTE", "1000"),
        ];
        control_plane_env.extend_from_slice(control_plane_extra);
        let stack =
            Stack::split_with_env(&database_url, &redis_url(), gateway_env, &control_plane_env)
                .await?;
        front.forward_to(&stack.gateway);
        Ok(Some(SsoStack {
            base: front.url.clone(),
            stack,
            dns,
            hooks,
            _front: front,
            _db: dir,
        }))
    }

    /// The redirect URI every provider sends people back to.
    pub fn callback_uri(&self) -> String {
        callback_uri_at(&self.base)
    }

    /// A relying-party registration at a provider for this stack.
    pub fn client(&self, id: &str, secret: &str) -> RpClient {
        RpClient::new(id, secret, &self.callback_uri())
    }

    /// A JSON call as `user` to `/.wrnexus/api/v1{path}`, same-origin.
    pub async fn call(
        &self,
        c: &Client,
        user: &User,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResult<(StatusCode, Value)> {
        let mut req = user
            .req(c, method, &format!("{}/.wrnexus/api/v1{path}", self.base))
            .header(ACCEPT, "application/json")
            .header(ORIGIN, &self.base);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(json!(text))))
    }

    /// The audit rows of `workspace` with `action`, as `owner` reads them.
    pub async fn audit(
        &self,
        c: &Client,
        owner: &User,
        workspace: &str,
        action: &str,
    ) -> TestResult<Vec<Value>> {
        let path = format!("/workspaces/{workspace}/audit?action={action}");
        let (status, body) = self.call(c, owner, Method::GET, &path, None).await?;
        if status != StatusCode::OK {
            return Err(format!("reading the audit log answered {status}: {body}").into());
        }
        Ok(body["entries"].as_array().cloned().unwrap_or_default())
    }

    /// `owner` connects `workspace` to `idp` as client (`id`, `secret`),
    /// people joining as `role`: the connection as the API shows it.
    pub async fn connect(
        &self,
        c: &Client,
        owner: &User,
        workspace: &str,
        issuer: &str,
        (id, secret): (&str, &str),
        allowed_domains: &[&str],
    ) -> TestResult<Value> {
        let path = format!("/workspaces/{workspace}/sso/connection");
        let body = json!({
            "issuer": issuer,
            "client_id": id,
            "client_secret": secret,
            "allowed_domains": allowed_domains,
            "default_role": "member",
        });
        let (status, view) = self.call(c, owner, Method::PUT, &path, Some(body)).await?;
        if status != StatusCode::CREATED {
            return Err(format!("connecting answered {status}: {view}").into());
        }
        Ok(view)
    }

    /// `owner` adds `domain` to `workspace`, publishes its record and
    /// verifies it: the domain as the check left it.
    pub async fn verify_domain(
        &self,
        c: &Client,
        owner: &User,
        workspace: &str,
        domain: &str,
    ) -> TestResult<Value> {
        let path = format!("/workspaces/{workspace}/sso/domains");
        let body = json!({ "domain": domain });
        let (status, added) = self.call(c, owner, Method::POST, &path, Some(body)).await?;
        if status != StatusCode::CREATED {
            return Err(format!("adding {domain} answered {status}: {added}").into());
        }
        let id = added["domain"]["id"].as_str().ok_or("no domain id")?;
        let name = added["domain"]["record"]["name"]
            .as_str()
            .ok_or("no name")?;
        let value = added["domain"]["record"]["value"]
            .as_str()
            .ok_or("no value")?;
        self.dns.set_txt(name, &[value]);
        let verify = format!("{path}/{id}/verify");
        let (status, checked) = self.call(c, owner, Method::POST, &verify, None).await?;
        if status != StatusCode::OK || checked["verified"] != true {
            return Err(format!("verifying {domain} answered {status}: {checked}").into());
        }
        Ok(checked)
    }
}

/// The redirect URI of a stack whose public URL is `base`.
pub fn callback_uri_at(base: &str) -> String {
    format!("{base}/.wrnexus/sso/callback")
}

/// A person at a provider: (sub, email, password).
pub fn account((sub, email, password): (&str, &str, &str)) -> Account {
    Account::new(sub, email, password)
}

/// What the control plane answered the provider's callback with.
#[derive(Debug, Clone)]
pub struct Landing {
    pub status: StatusCode,
    pub location: Option<String>,
    /// `name=value` of the session cookie set, if any.
    pub session: Option<String>,
    pub body: String,
    /// The callback URL and the state cookie it was opened with (to replay).
    pub callback: String,
    pub state_cookie: String,
}

/// `name=value` of the sign-in state cookie a response sets.
fn state_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-wrnexus_sso=") || v.starts_with("wrnexus_sso="))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// Open `start` (a path at `base`, or a URL) and expect a 303 to the
/// provider: its `Location` and the state cookie.
pub async fn start(c: &Client, base: &str, start: &str) -> TestResult<(String, String)> {
    let url = if start.starts_with('/') {
        format!("{base}{start}")
    } else {
        start.to_string()
    };
    let response = c.get(&url).send().await?;
    let status = response.status();
    let cookie = state_cookie(&response);
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match (status, location, cookie) {
        (StatusCode::SEE_OTHER, Some(location), Some(cookie)) => Ok((location, cookie)),
        (status, location, _) => Err(format!(
            "{url}: expected a 303 to the provider with a state cookie, got {status} \
             {location:?}: {}",
            c.get(&url).send().await?.text().await?
        )
        .into()),
    }
}

/// Open the provider's callback at the control plane, with the state cookie.
pub async fn callback(c: &Client, callback: &str, state_cookie: &str) -> TestResult<Landing> {
    let response = c
        .get(callback)
        .header(COOKIE, state_cookie)
        .header(ACCEPT, "text/html")
        .send()
        .await?;
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let session = session_set_cookie(&response)
        .map(|s| s.split(';').next().unwrap_or("").to_string())
        .filter(|s| s.len() > COOKIE_NAME.len() + 1);
    Ok(Landing {
        status,
        location,
        session,
        body: response.text().await?,
        callback: callback.to_string(),
        state_cookie: state_cookie.to_string(),
    })
}

/// Sign in through `idp` from `start_path` as (`login`, `password`), like a
/// browser: what the control plane answered the callback with.
pub async fn sso(
    c: &Client,
    base: &str,
    idp: &OidcProvider,
    start_path: &str,
    (login, password): (&str, &str),
) -> TestResult<Landing> {
    let (authorize, cookie) = start(c, base, start_path).await?;
    let browser = OidcProvider::browser()?;
    let back = idp.login(&browser, &authorize, login, password).await?;
    if let Some(error) = &back.error {
        return Err(format!("the provider sent back `{error}`: {back:?}").into());
    }
    callback(c, &back.callback, &cookie).await
}

/// The signed-in user a landing gave (it must have set a session and sent
/// the browser on), as whoami tells it; and whoami's answer.
pub async fn landed(c: &Client, base: &str, landing: &Landing) -> TestResult<(User, Value)> {
    let cookie = match (&landing.session, landing.status) {
        (Some(cookie), StatusCode::SEE_OTHER) => cookie.clone(),
        _ => return Err(format!("the sign-in did not land: {landing:?}").into()),
    };
    let who: Value = c
        .get(format!("{base}/.wrnexus/whoami"))
        .header(COOKIE, &cookie)
        .header(ACCEPT, "application/json")
        .send()
        .await?
        .json()
        .await?;
    let user = User {
        email: who["user"]["email"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        id: who["user"]["id"]
            .as_str()
            .ok_or("no user in whoami")?
            .to_string(),
        workspace_id: who["workspace"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        set_cookie: cookie.clone(),
        cookie,
    };
    Ok((user, who))
}

/// The ids of the workspaces whoami lists.
pub fn workspace_ids(who: &Value) -> Vec<String> {
    who["workspaces"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|w| w["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `owner` subscribes `workspace` to `events` at the stack's receiver.
pub async fn subscribe(
    s: &SsoStack,
    c: &Client,
    owner: &User,
    workspace: &str,
    events: &[&str],
) -> TestResult<(StatusCode, Value)> {
    let path = format!("/workspaces/{workspace}/webhooks");
    let body = json!({ "url": s.hooks.url, "event_types": events });
    s.call(c, owner, Method::POST, &path, Some(body)).await
}

/// W's client at its provider, and W2's at theirs.
pub const CLIENT_W: (&str, &str) = ("wrnexus-acme", "secret-of-acme-0123456789");
pub const CLIENT_W2: (&str, &str) = ("wrnexus-beta", "secret-of-beta-0123456789");
/// The domain W proves.
pub const ACME: &str = "acme.example";

/// Records problems instead of stopping at the first, so one run tells
/// everything that is wrong; [`Problems::done`] fails if any.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let what = what();
            eprintln!("PROBLEM: {what}");
            self.0.push(what);
        }
    }

    pub fn done(self, logs: impl FnOnce() -> String) -> TestResult {
        if self.0.is_empty() {
            return Ok(());
        }
        eprintln!("{}", logs());
        Err(format!("{} problem(s):\n- {}", self.0.len(), self.0.join("\n- ")).into())
    }
}

/// A workspace "Acme" owned by a new user, connected to `issuer` as
/// [`CLIENT_W`] and with [`ACME`] verified: (owner, workspace id, the
/// connection as the API showed it).
pub async fn acme(s: &SsoStack, c: &Client, issuer: &str) -> TestResult<(User, String, Value)> {
    let owner =
        wrnexus_e2e::client::sign_up(c, &s.base, &wrnexus_e2e::client::email("owner")).await?;
    let w = wrnexus_e2e::client::create_workspace(c, &s.base, &owner, "Acme").await?;
    let connection = s.connect(c, &owner, &w, issuer, CLIENT_W, &[]).await?;
    s.verify_domain(c, &owner, &w, ACME).await?;
    Ok((owner, w, connection))
}

/// The start of a sign-in through workspace `w`'s own provider.
pub fn start_path(w: &str, return_to: &str) -> String {
    let query = reqwest::Url::parse_with_params(
        "http://x/.wrnexus/sso/start",
        &[("workspace_id", w), ("return_to", return_to)],
    )
    .map(|u| u.query().unwrap_or_default().to_string())
    .unwrap_or_default();
    format!("/.wrnexus/sso/start?{query}")
}

/// A password sign-in at the front, JSON: the user it signed in.
pub async fn password_sign_in(s: &SsoStack, c: &Client, email: &str) -> TestResult<User> {
    let response = c
        .post(format!("{}/.wrnexus/signin", s.base))
        .header(ACCEPT, "application/json")
        .json(&json!({ "email": email, "password": wrnexus_e2e::client::PASSWORD }))
        .send()
        .await?;
    let set_cookie = session_set_cookie(&response);
    let (status, body) = wrnexus_e2e::client::json_body(response).await?;
    let Some(set_cookie) = set_cookie.filter(|_| status == StatusCode::OK) else {
        return Err(format!("password sign-in of {email} answered {status}: {body}").into());
    };
    Ok(User {
        email: email.to_string(),
        id: body["user"]["id"].as_str().ok_or("no user id")?.to_string(),
        workspace_id: body["workspace"]["id"]
            .as_str()
            .ok_or("no workspace")?
            .to_string(),
        cookie: set_cookie.split(';').next().unwrap_or("").to_string(),
        set_cookie,
    })
}
