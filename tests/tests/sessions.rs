//! Sessions per device over the real binary: each sign-in is listed with
//! its address and user agent (the current one marked), "last seen" moves
//! with traffic through the gateway, and ending a session from another
//! device cuts it at every gateway within a second. `wrnexus dev` (SQLite)
//! and the split stack with two gateways (Postgres, Redis).

use reqwest::header::{ACCEPT, ORIGIN, USER_AGENT};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD, User, http, json_body, session_set_cookie, until};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;

/// Sign `email` in through the gateway from a device calling itself
/// `agent`.
async fn sign_in_as(c: &Client, gateway: &str, email: &str, agent: &str) -> TestResult<User> {
    let response = c
        .post(format!("{gateway}/.wrnexus/signin"))
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?;
    let set_cookie = session_set_cookie(&response).ok_or("sign-in set no cookie")?;
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(User {
        email: email.to_string(),
        id: body["user"]["id"].as_str().ok_or("user id")?.to_string(),
        workspace_id: body["workspace"]["id"].as_str().ok_or("wid")?.to_string(),
        cookie: set_cookie.split(';').next().unwrap_or("").to_string(),
        set_cookie,
    })
}

/// The user's sessions, as the account page lists them.
async fn sessions(c: &Client, gateway: &str, user: &User) -> TestResult<Vec<Value>> {
    let url = format!("{gateway}/.wrnexus/api/v1/account/sessions");
    let (status, body) = json_body(
        user.req(c, Method::GET, &url)
            .header(ACCEPT, "application/json")
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(body["sessions"].as_array().ok_or("sessions")?.clone())
}

fn find<'a>(list: &'a [Value], agent: &str) -> TestResult<&'a Value> {
    Ok(list
        .iter()
        .find(|s| s["user_agent"] == agent)
        .ok_or_else(|| format!("no session from {agent}: {list:?}"))?)
}

/// Two devices; the phone ends the laptop's session, which every gateway
/// in `gateways` then refuses within a second.
async fn per_device(stack: &Stack, gateways: &[&str]) -> TestResult {
    let c = http();
    let gw = stack.gateway.as_str();
    let email = client::email("ann");
    client::sign_up(&c, gw, &email).await?;
    let laptop = sign_in_as(&c, gw, &email, "Laptop/1.0 (X11; Linux)").await?;
    let phone = sign_in_as(&c, gw, &email, "Phone/2.0").await?;

    let listed = sessions(&c, gw, &phone).await?;
    assert_eq!(listed.len(), 3, "sign-up, laptop, phone: {listed:?}");
    let on_laptop = find(&listed, "Laptop/1.0 (X11; Linux)")?;
    let on_phone = find(&listed, "Phone/2.0")?;
    assert_eq!(on_phone["current"], true);
    assert_eq!(on_laptop["current"], false);
    assert_eq!(on_laptop["client_ip"], "127.0.0.1", "{on_laptop}");
    let started: Vec<i64> = listed
        .iter()
        .filter_map(|s| s["created_at"].as_i64())
        .collect();
    assert!(
        started.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {listed:?}"
    );
    let laptop_id = on_laptop["id"].as_str().ok_or("id")?.to_string();
    let started = on_laptop["created_at"].as_i64().ok_or("created_at")?;

    // Traffic through the gateway moves the laptop's "last seen".
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for gateway in gateways {
        let r = laptop
            .req(&c, Method::GET, &format!("{gateway}/"))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = sessions(&c, gw, &phone).await?;
        let seen = find(&now, "Laptop/1.0 (X11; Linux)")?["last_seen_at"]
            .as_i64()
            .unwrap_or(0);
        if seen > started {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("last_seen_at never moved past {started}: {now:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The phone ends the laptop's session: every gateway refuses it.
    let end = format!("{gw}/.wrnexus/api/v1/account/sessions/{laptop_id}");
    let r = phone
        .req(&c, Method::DELETE, &end)
        .header(ORIGIN, gw)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for gateway in gateways {
        let took = until(
            &c,
            &laptop,
            &format!("{gateway}/"),
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(1),
        )
        .await?;
        assert!(took <= Duration::from_secs(1), "{gateway}: {took:?}");
    }
    let left = sessions(&c, gw, &phone).await?;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|s| s["id"] != laptop_id.as_str()));
    // The phone still works; ending a session twice, or another person's,
    // is not found.
    let r = phone.req(&c, Method::GET, &format!("{gw}/")).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    let r = phone
        .req(&c, Method::DELETE, &end)
        .header(ORIGIN, gw)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let other = client::sign_up(&c, gw, &client::email("bob")).await?;
    let phone_id = find(&left, "Phone/2.0")?["id"]
        .as_str()
        .ok_or("id")?
        .to_string();
    let r = other
        .req(
            &c,
            Method::DELETE,
            &format!("{gw}/.wrnexus/api/v1/account/sessions/{phone_id}"),
        )
        .header(ORIGIN, gw)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = phone.req(&c, Method::GET, &format!("{gw}/")).send().await?;
    assert_eq!(r.status(), StatusCode::OK, "another person cannot end it");
    Ok(())
}

#[tokio::test]
async fn sessions_per_device_in_dev() -> TestResult {
    let stack = Stack::embedded().await?;
    let gateway = stack.gateway.clone();
    let result = per_device(&stack, &[gateway.as_str()]).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

#[tokio::test]
async fn sessions_per_device_on_two_gateways() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    if redis().await?.is_none() {
        return Ok(());
    }
    let mut stack = Stack::split(&database, &redis_url()).await?;
    let result = async {
        let (second, _) = stack.add_gateway(&redis_url()).await?;
        let first = stack.gateway.clone();
        per_device(&stack, &[first.as_str(), second.as_str()]).await
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
