//! A control plane served on 127.0.0.1:0 and a client for its API.

use super::TestResult;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use wrnexus_control_plane::{ControlPlaneConfig, build, serve};

/// The operator token of test servers.
pub const OPERATOR_TOKEN: &str = "test-operator-token";

pub struct Api {
    pub base: String,
    pub http: Client,
}

pub struct User {
    pub id: String,
    pub email: String,
    pub personal: String,
    pub token: String,
}

impl Api {
    pub async fn start(config: ControlPlaneConfig) -> TestResult<Self> {
        let state = build(config, None).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(serve(listener, state, std::future::pending()));
        Ok(Api {
            base,
            http: Client::new(),
        })
    }

    /// Send a request to `path` under `/v1` with a bearer (session token or
    /// API key): the whole response, headers included.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> TestResult<reqwest::Response> {
        let mut req = self
            .http
            .request(method, format!("{}/v1{path}", self.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Ok(req.send().await?)
    }

    /// Call `path` under `/v1` with a bearer (session token or API key).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> TestResult<(StatusCode, Value)> {
        let res = self.send(method, path, bearer, body).await?;
        let status = res.status();
        let text = res.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A second session for an existing user: its token.
    pub async fn sign_in(&self, email: &str) -> TestResult<String> {
        let res = self
            .http
            .post(format!("{}/.wrnexus/signin", self.base))
            .json(&json!({ "email": email, "password": "correct horse battery" }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        session_token(&res)
    }

    pub async fn sign_up(&self, email: &str) -> TestResult<User> {
        let res = self
            .http
            .post(format!("{}/.wrnexus/signup", self.base))
            .json(&json!({ "email": email, "password": "correct horse battery" }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::CREATED);
        let cookie = session_token(&res)?;
        let body: Value = res.json().await?;
        Ok(User {
            id: body["user"]["id"].as_str().ok_or("user id")?.to_string(),
            email: email.to_string(),
            personal: body["workspace"]["id"]
                .as_str()
                .ok_or("workspace id")?
                .to_string(),
            token: cookie,
        })
    }
}

/// The session token a response sets.
pub fn session_token(res: &reqwest::Response) -> TestResult<String> {
    Ok(res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.split_once('='))
        .map(|(_, v)| v.to_string())
        .ok_or("no session cookie")?)
}

pub fn config(url: &str, owner: Option<&str>) -> ControlPlaneConfig {
    let mut c = ControlPlaneConfig::new(url);
    c.migrate_database_url = owner.map(str::to_string);
    c.cookie_secure = false;
    c.rate_limits.signin_per_minute = 3;
    c.webhooks.enabled = false;
    c.operator_token = Some(OPERATOR_TOKEN.to_string());
    c
}

pub async fn on_both<F, Fut>(suite: F) -> TestResult
where
    F: Fn(Api) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    on_both_with(|_| {}, suite).await
}

/// [`on_both`], with the test servers' configuration adjusted by `configure`.
pub async fn on_both_with<C, F, Fut>(configure: C, suite: F) -> TestResult
where
    C: Fn(&mut ControlPlaneConfig),
    F: Fn(Api) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    let sqlite = wrnexus_control_plane::store::sqlite_url(&dir.path().join("t.sqlite"));
    let mut c = config(&sqlite, None);
    configure(&mut c);
    let api = Api::start(c).await?;
    suite(api).await.map_err(|e| format!("sqlite: {e}"))?;
    if let Some((owner, service)) = super::postgres().await? {
        let mut c = config(&service, Some(&owner));
        configure(&mut c);
        let api = Api::start(c).await?;
        suite(api).await.map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}
