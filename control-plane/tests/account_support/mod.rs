//! A control plane for the account suites, and a way to read the mail it
//! queued (the links people would click).

#![allow(dead_code)]

use super::common::TestResult;
use super::common::http::{User, session_token};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use tokio::net::TcpListener;
use wrnexus_control_plane::{ControlPlaneConfig, build, serve};

pub const PASSWORD: &str = "correct horse battery";
pub const PUBLIC_URL: &str = "https://front.example.test";

/// A control plane, and a way to read the mail it queued.
pub struct Env {
    pub base: String,
    pub http: Client,
    /// Reads `mail_outbox` (the owner on Postgres: row security aside).
    pub mail: AnyPool,
}

impl Env {
    pub async fn start(mut config: ControlPlaneConfig, mail_url: &str) -> TestResult<Self> {
        config.public_url = PUBLIC_URL.to_string();
        let state = build(config, None).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(serve(listener, state, std::future::pending()));
        let mail = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(mail_url)
            .await?;
        Ok(Env {
            base,
            http: Client::new(),
            mail,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` under `/v1` with a bearer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> TestResult<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, self.url(&format!("/v1{path}")))
            .bearer_auth(bearer);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await?;
        let status = res.status();
        let text = res.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    pub async fn sign_up(&self, email: &str) -> TestResult<User> {
        let res = self
            .http
            .post(self.url("/.wrnexus/signup"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::CREATED);
        let token = session_token(&res)?;
        let body: Value = res.json().await?;
        Ok(User {
            id: body["user"]["id"].as_str().ok_or("user id")?.to_string(),
            email: email.to_string(),
            personal: body["workspace"]["id"].as_str().ok_or("ws")?.to_string(),
            token,
        })
    }

    /// Sign in: the status, and the session token when it worked.
    pub async fn sign_in(&self, email: &str, password: &str) -> TestResult<(StatusCode, String)> {
        let res = self
            .http
            .post(self.url("/.wrnexus/signin"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await?;
        let status = res.status();
        Ok((status, session_token(&res).unwrap_or_default()))
    }

    pub async fn account(&self, token: &str) -> TestResult<(StatusCode, Value)> {
        self.call(Method::GET, "/account", token, None).await
    }

    /// Every message of `template` queued for `recipient`: its values.
    pub async fn mails(&self, template: &str, recipient: &str) -> TestResult<Vec<Value>> {
        let rows =
            sqlx::query("SELECT data FROM mail_outbox WHERE template = $1 AND recipient = $2")
                .bind(template)
                .bind(recipient)
                .fetch_all(&self.mail)
                .await?;
        let mut out = Vec::new();
        for row in rows {
            let data: String = row.try_get("data")?;
            out.push(serde_json::from_str(&data)?);
        }
        Ok(out)
    }

    /// The tokens of every link of `template` mailed to `recipient`, each
    /// checked to be built on the public URL.
    pub async fn tokens(&self, template: &str, recipient: &str) -> TestResult<Vec<String>> {
        let mut out = Vec::new();
        for data in self.mails(template, recipient).await? {
            let link = data["link"].as_str().ok_or("no link")?;
            assert!(link.starts_with(PUBLIC_URL), "{link}");
            let token = link.split_once("token=").ok_or("no token")?.1;
            out.push(token.to_string());
        }
        Ok(out)
    }

    /// The one link of `template` to `recipient` that is not in `seen`,
    /// waiting a while for it (a reset link is queued after the answer).
    pub async fn new_token(
        &self,
        template: &str,
        recipient: &str,
        seen: &[String],
    ) -> TestResult<String> {
        let mut fresh = Vec::new();
        for _ in 0..100 {
            fresh = self
                .tokens(template, recipient)
                .await?
                .into_iter()
                .filter(|t| !seen.contains(t))
                .collect();
            if !fresh.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(fresh.len(), 1, "{fresh:?}");
        Ok(fresh.into_iter().next().ok_or("no mail")?)
    }

    /// A form POST to a page: status and body.
    pub async fn form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> TestResult<(StatusCode, String)> {
        let res = self
            .http
            .post(self.url(path))
            .header("origin", &self.base)
            .form(fields)
            .send()
            .await?;
        let status = res.status();
        Ok((status, res.text().await?))
    }

    pub async fn page(&self, path: &str) -> TestResult<(StatusCode, String)> {
        let res = self.http.get(self.url(path)).send().await?;
        let status = res.status();
        Ok((status, res.text().await?))
    }

    pub async fn json(&self, path: &str, body: Value) -> TestResult<reqwest::Response> {
        Ok(self.http.post(self.url(path)).json(&body).send().await?)
    }
}

/// Run `suite` on SQLite and on Postgres, with `configure` applied.
pub async fn on_both<C, F, Fut>(configure: C, suite: F) -> TestResult
where
    C: Fn(&mut ControlPlaneConfig),
    F: Fn(Env) -> Fut,
    Fut: std::future::Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    let sqlite = wrnexus_control_plane::store::sqlite_url(&dir.path().join("t.sqlite"));
    let mut c = super::common::http::config(&sqlite, None);
    configure(&mut c);
    suite(Env::start(c, &sqlite).await?)
        .await
        .map_err(|e| format!("sqlite: {e}"))?;
    if let Some((owner, service)) = super::common::postgres().await? {
        let mut c = super::common::http::config(&service, Some(&owner));
        configure(&mut c);
        suite(Env::start(c, &owner).await?)
            .await
            .map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}
