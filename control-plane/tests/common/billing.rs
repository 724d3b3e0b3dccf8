//! Helpers of the billing suites: Stripe-signed deliveries of the fixtures,
//! workspaces and members over the API, and what the billing view says.

use super::TestResult;
use super::http::{Api, User};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_testkit::stripe::{WORKSPACE_A, event, sign};

pub const SECRET: &str = "whsec_wrnexus_test_endpoint";

pub fn billing_on(c: &mut ControlPlaneConfig) {
    c.billing.webhook_secret = Some(SECRET.to_string());
    c.billing.poll_interval = Duration::from_millis(100);
}

pub fn code(body: &Value) -> &str {
    super::team::code(body)
}

/// POST a body to the webhook endpoint with `signature` (or none).
pub async fn deliver(
    api: &Api,
    body: &str,
    signature: Option<&str>,
) -> TestResult<(StatusCode, Value)> {
    let mut req = api
        .http
        .post(format!("{}/v1/billing/stripe/webhook", api.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    let res = req.send().await?;
    let status = res.status();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Deliver a fixture for workspace `team` (as customer A), signed now.
pub async fn send(api: &Api, name: &str, team: &str) -> TestResult<Value> {
    let body = event(name, &[(WORKSPACE_A, team)])?;
    let (status, ack) = deliver(api, &body, Some(&sign(&body, SECRET))).await?;
    assert_eq!(status, StatusCode::OK, "{name}: {ack}");
    Ok(ack)
}

pub async fn create_team(api: &Api, owner: &User, name: &str) -> TestResult<String> {
    api.team(owner, name).await
}

/// Sign `email` up and make them a `role` of `team`.
pub async fn join(
    api: &Api,
    owner: &User,
    team: &str,
    email: &str,
    role: &str,
) -> TestResult<User> {
    let user = api.sign_up(email).await?;
    api.join(team, &owner.token, &user, role).await?;
    Ok(user)
}

pub async fn status_of(api: &Api, user: &User, workspace: &str) -> TestResult<String> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}"),
            &user.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["workspace"]["status"].as_str().unwrap_or("").to_string())
}

/// How many audit rows of `action` the workspace has.
pub async fn audited(api: &Api, owner: &User, workspace: &str, action: &str) -> TestResult<usize> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/audit?action={action}"),
            &owner.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["entries"].as_array().map_or(0, Vec::len))
}

pub async fn billing(api: &Api, user: &User, workspace: &str) -> TestResult<(StatusCode, Value)> {
    api.call(
        Method::GET,
        &format!("/workspaces/{workspace}/billing"),
        &user.token,
        None,
    )
    .await
}

/// Try a write (creating a project) in `workspace`.
pub async fn write(api: &Api, user: &User, workspace: &str) -> TestResult<(StatusCode, Value)> {
    let name = format!("p{}", uuid::Uuid::new_v4().simple());
    api.call(
        Method::POST,
        &format!("/workspaces/{workspace}/projects"),
        &user.token,
        Some(json!({ "name": name })),
    )
    .await
}
