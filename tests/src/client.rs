//! HTTP helpers speaking to the gateway like a browser or an app would.

use crate::TestResult;
use reqwest::header::{ACCEPT, COOKIE, SET_COOKIE};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

/// The session cookie's name (the shipped default).
pub const COOKIE_NAME: &str = "__Host-wrnexus_session";

/// A client that does not follow redirects, so tests see them.
pub fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub email: String,
    pub id: String,
    /// The workspace the cookie names now.
    pub workspace_id: String,
    /// `name=value` of the session cookie.
    pub cookie: String,
    /// The whole `Set-Cookie` value, attributes included.
    pub set_cookie: String,
}

impl User {
    /// The user a sign-up or sign-in answer (`body`, with its
    /// `Set-Cookie`) describes.
    pub fn signed_in(email: &str, body: &Value, set_cookie: String) -> TestResult<User> {
        Ok(User {
            email: email.to_string(),
            id: body["user"]["id"].as_str().ok_or("no user id")?.to_string(),
            workspace_id: body["workspace"]["id"]
                .as_str()
                .ok_or("no workspace id")?
                .to_string(),
            cookie: set_cookie.split(';').next().unwrap_or("").to_string(),
            set_cookie,
        })
    }

    pub fn token(&self) -> &str {
        self.cookie.split_once('=').map_or("", |(_, v)| v)
    }

    /// A request with this user's cookie.
    pub fn req(&self, client: &Client, method: reqwest::Method, url: &str) -> RequestBuilder {
        client.request(method, url).header(COOKIE, &self.cookie)
    }

    /// Take a new cookie from a response, if it sets one.
    pub fn update_cookie(&mut self, response: &Response) {
        if let Some(set) = session_set_cookie(response) {
            self.cookie = set.split(';').next().unwrap_or("").to_string();
            self.set_cookie = set;
        }
    }
}

/// The session `Set-Cookie` value of a response.
pub fn session_set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{COOKIE_NAME}=")))
        .map(str::to_string)
}

/// A unique email for a test user.
pub fn email(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Sign up through the gateway with JSON.
pub async fn sign_up(client: &Client, gateway: &str, email: &str) -> TestResult<User> {
    let response = client
        .post(format!("{gateway}/.wrnexus/signup"))
        .header(ACCEPT, "application/json")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?;
    let status = response.status();
    let set_cookie = session_set_cookie(&response).ok_or("sign-up set no session cookie")?;
    let body: Value = response.json().await?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("sign-up answered {status}: {body}").into());
    }
    User::signed_in(email, &body, set_cookie)
}

/// `owner` invites `user` into `workspace` as `role`, and `user` accepts.
pub async fn add_member(
    client: &Client,
    gateway: &str,
    owner: &User,
    user: &User,
    workspace: &str,
    role: &str,
) -> TestResult {
    let api = format!("{gateway}/.wrnexus/api/v1");
    let response = owner
        .req(
            client,
            reqwest::Method::POST,
            &format!("{api}/workspaces/{workspace}/invitations"),
        )
        .json(&json!({ "email": user.email, "role": role }))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("inviting answered {status}: {body}").into());
    }
    let token = body["token"].as_str().ok_or("no invitation token")?;
    let response = user
        .req(
            client,
            reqwest::Method::POST,
            &format!("{api}/invitations/{token}/accept"),
        )
        .send()
        .await?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("accepting answered {}", response.status()).into());
    }
    Ok(())
}

/// Switch the user's session to another workspace (cookie re-issued).
pub async fn switch(
    client: &Client,
    gateway: &str,
    user: &mut User,
    workspace_id: &str,
) -> TestResult {
    let response = user
        .req(
            client,
            reqwest::Method::POST,
            &format!("{gateway}/.wrnexus/switch"),
        )
        .json(&json!({"workspace_id": workspace_id}))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("switch answered {}", response.status()).into());
    }
    user.update_cookie(&response);
    user.workspace_id = workspace_id.to_string();
    Ok(())
}

/// Create a workspace as `owner`; its id.
pub async fn create_workspace(
    client: &Client,
    gateway: &str,
    owner: &User,
    name: &str,
) -> TestResult<String> {
    let response = owner
        .req(
            client,
            reqwest::Method::POST,
            &format!("{gateway}/.wrnexus/api/v1/workspaces"),
        )
        .json(&json!({ "name": name }))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("creating a workspace answered {status}: {body}").into());
    }
    Ok(body["workspace"]["id"]
        .as_str()
        .ok_or("no workspace id")?
        .to_string())
}

/// `owner` invites `member` to `workspace` as `role`, `member` accepts and
/// switches to it.
pub async fn join(
    client: &Client,
    gateway: &str,
    owner: &User,
    member: &mut User,
    workspace_id: &str,
    role: &str,
) -> TestResult {
    add_member(client, gateway, owner, member, workspace_id, role).await?;
    switch(client, gateway, member, workspace_id).await
}

/// Create an API key in `workspace_id` as `owner`: its `(id, secret)`.
pub async fn create_api_key(
    client: &Client,
    gateway: &str,
    owner: &User,
    workspace_id: &str,
    role_ceiling: &str,
) -> TestResult<(String, String)> {
    let response = owner
        .req(
            client,
            reqwest::Method::POST,
            &format!("{gateway}/.wrnexus/api/v1/workspaces/{workspace_id}/api-keys"),
        )
        .json(&json!({"name": "test", "role_ceiling": role_ceiling}))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("creating an API key answered {status}: {body}").into());
    }
    let id = body["api_key"]["id"].as_str().ok_or("no key id")?;
    let secret = body["secret"].as_str().ok_or("no key secret")?;
    Ok((id.to_string(), secret.to_string()))
}

/// Parse a JSON body, reporting the status on failure.
pub async fn json_body(response: Response) -> TestResult<(reqwest::StatusCode, Value)> {
    let status = response.status();
    let text = response.text().await?;
    let value =
        serde_json::from_str(&text).map_err(|e| format!("{status}: not JSON ({e}): {text}"))?;
    Ok((status, value))
}

/// Send a request line exactly as given (no URL normalisation, unlike an
/// HTTP client library) and return the status code and body.
pub async fn raw_request(
    gateway: &str,
    request_target: &str,
    cookie: &str,
) -> TestResult<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gateway.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET {request_target} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((status, text))
}

/// Send `request` byte for byte on a new connection and return the status
/// code and the whole response (the request should say `Connection: close`).
pub async fn raw_exchange(gateway: &str, request: &[u8]) -> TestResult<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gateway.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await;
    if let Ok(Err(e)) = read {
        // A reset after the answer still leaves the answer to read.
        if response.is_empty() {
            return Err(e.into());
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    Ok((status, text))
}

/// Repeat `GET url` as `user` until it answers `want`, for up to `within`
/// (pushed changes reach a gateway asynchronously): how long it took.
pub async fn until(
    c: &Client,
    user: &User,
    url: &str,
    want: reqwest::StatusCode,
    within: std::time::Duration,
) -> TestResult<std::time::Duration> {
    let started = std::time::Instant::now();
    loop {
        let status = user
            .req(c, reqwest::Method::GET, url)
            .send()
            .await?
            .status();
        if status == want {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            return Err(format!("{url}: still {status} after {within:?}, wanted {want}").into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
