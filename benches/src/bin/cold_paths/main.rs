//! Cold paths through a split stack (release `wrnexus`, Postgres, Redis):
//! sign-in (argon2id), the first request of a new session through the
//! gateway (its token's EdDSA signature checked, its decision data
//! fetched) against the same session's second, an API key's first use
//! against its second, and a workspace switch (the switch call, and the
//! first request after it against the second). Each sample is a new user
//! (signed up beforehand, untimed), so nothing of it is cached yet: p50 and
//! p99 over `SAMPLES` users, each row against its goal.
//!
//! Settings (environment): `WRNEXUS_BIN` (the binary under test; release),
//! `SAMPLES` (120). The sign-in rate limit is raised for the run (one
//! client address signs everyone in). Needs Postgres and Redis (the e2e
//! defaults, `WRNEXUS_TEST_POSTGRES_URL`/`WRNEXUS_TEST_REDIS_URL`).
//! Timings are taken by this client around each HTTP exchange on a kept-
//! alive connection, so they include its own overhead.

mod stats;

use anyhow::{Context, Result};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::json;
use stats::Row;
use std::time::Instant;
use wrnexus_benches::harness::e2e;
use wrnexus_e2e::client::{
    PASSWORD, User, create_api_key, create_workspace, email, http, session_set_cookie, sign_up,
    switch,
};
use wrnexus_e2e::services::{fresh_postgres, redis_url};
use wrnexus_e2e::stack::Stack;

/// The password hashing parameters, as `control-plane/src/password.rs`
/// uses them (`Argon2::default()` of the `argon2` crate: argon2id, version
/// 0x13, m = 19 MiB, t = 2, p = 1).
const ARGON2: &str = "argon2id v19, m = 19456 KiB, t = 2, p = 1 (argon2 crate defaults)";

/// Send `req`, read the whole answer, check it is 2xx: the milliseconds
/// taken, and the session cookie it sets (`name=value`), if any.
async fn timed(req: RequestBuilder, what: &str) -> Result<(f64, Option<String>)> {
    let start = Instant::now();
    let response = req.send().await.with_context(|| what.to_string())?;
    let status = response.status();
    let cookie =
        session_set_cookie(&response).map(|set| set.split(';').next().unwrap_or("").to_string());
    let bytes = response.bytes().await?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        status.is_success(),
        "{what} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok((ms, cookie))
}

/// One prepared user: signed up, with a second workspace and an API key
/// of its first (all untimed, through the control plane's API).
struct Prepared {
    user: User,
    second_workspace: String,
    key: String,
}

async fn prepare(client: &Client, gateway: &str, i: usize) -> Result<Prepared> {
    let user = e2e(sign_up(client, gateway, &email(&format!("cold{i}"))).await)?;
    let second_workspace =
        e2e(create_workspace(client, gateway, &user, &format!("second {i}")).await)?;
    let (_, key) = e2e(create_api_key(client, gateway, &user, &user.workspace_id, "member").await)?;
    Ok(Prepared {
        user,
        second_workspace,
        key,
    })
}

/// The measured rows, in order.
struct Rows {
    sign_in: Row,
    session_first: Row,
    session_second: Row,
    key_first: Row,
    key_second: Row,
    switch: Row,
    switched_first: Row,
    switched_second: Row,
}

impl Rows {
    fn new() -> Self {
        Rows {
            sign_in: Row::new("sign-in (POST /.wrnexus/signin)", 50.0, 100.0),
            session_first: Row::new("new session: first request", 99.0, 5.0),
            session_second: Row::new("new session: second request", 99.0, 2.0),
            key_first: Row::new("API key: first use", 99.0, 5.0),
            key_second: Row::new("API key: second use", 99.0, 2.0),
            switch: Row::new("workspace switch (POST /.wrnexus/switch)", 99.0, 20.0),
            switched_first: Row::new("after the switch: first request", 99.0, 5.0),
            switched_second: Row::new("after the switch: second request", 99.0, 2.0),
        }
    }

    fn all(self) -> Vec<Row> {
        vec![
            self.sign_in,
            self.session_first,
            self.session_second,
            self.key_first,
            self.key_second,
            self.switch,
            self.switched_first,
            self.switched_second,
        ]
    }
}

/// Measure one prepared user's cold paths into `rows`.
async fn measure(client: &Client, gateway: &str, p: Prepared, rows: &mut Rows) -> Result<()> {
    let app = format!("{gateway}/");
    let sign_in = client
        .post(format!("{gateway}/.wrnexus/signin"))
        .header(ACCEPT, "application/json")
        .json(&json!({"email": p.user.email, "password": PASSWORD}));
    let (ms, cookie) = timed(sign_in, "sign-in").await?;
    rows.sign_in.samples.push(ms);
    let mut user = User {
        cookie: cookie.context("sign-in set no session cookie")?,
        ..p.user
    };
    for row in [&mut rows.session_first, &mut rows.session_second] {
        let (ms, _) = timed(user.req(client, Method::GET, &app), "session request").await?;
        row.samples.push(ms);
    }
    let bearer = format!("Bearer {}", p.key);
    for row in [&mut rows.key_first, &mut rows.key_second] {
        let req = client.get(&app).header(AUTHORIZATION, &bearer);
        let (ms, _) = timed(req, "API key request").await?;
        row.samples.push(ms);
    }
    let start = Instant::now();
    e2e(switch(client, gateway, &mut user, &p.second_workspace).await)?;
    rows.switch
        .samples
        .push(start.elapsed().as_secs_f64() * 1e3);
    for row in [&mut rows.switched_first, &mut rows.switched_second] {
        let (ms, _) = timed(
            user.req(client, Method::GET, &app),
            "request after the switch",
        )
        .await?;
        row.samples.push(ms);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let samples: usize = match std::env::var("SAMPLES") {
        Ok(v) => v.parse().with_context(|| format!("SAMPLES={v}"))?,
        Err(_) => 120,
    };
    let bin = e2e(wrnexus_e2e::process::binary())?;
    println!("cold paths through a split stack");
    println!("machine: {}", wrnexus_benches::machine::describe());
    println!("binary: {}", bin.display());
    println!("samples: {samples} users; password hashing: {ARGON2}");
    let database = e2e(fresh_postgres().await)?.context("Postgres is needed")?;
    let stack = e2e(Stack::split_with_env(
        &database,
        &redis_url(),
        &[],
        &[("WRNEXUS_CONTROL_PLANE__SIGNIN_RATE_PER_MINUTE", "1000000")],
    )
    .await)?;
    let result = run(&stack, samples).await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    result
}

async fn run(stack: &Stack, samples: usize) -> Result<()> {
    let client = http();
    let gateway = stack.gateway.as_str();
    let mut prepared = Vec::with_capacity(samples);
    let start = Instant::now();
    for i in 0..samples {
        prepared.push(prepare(&client, gateway, i).await?);
    }
    println!(
        "prepared {samples} users in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut rows = Rows::new();
    for p in prepared {
        measure(&client, gateway, p, &mut rows).await?;
    }
    let met = stats::print(&rows.all());
    println!(
        "
every goal met: {}",
        if met { "yes" } else { "NO" }
    );
    Ok(())
}
