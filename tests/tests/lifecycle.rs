//! The gateway's lifecycle as an orchestrator sees it: the admin listener
//! answers first and `/ready` names what the gateway still waits for; an
//! address that cannot be had stops the start, named; on SIGTERM `/ready`
//! turns 503 at once while new connections are still taken for the
//! shutdown delay, then in-flight requests drain and the process exits.

use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::process::{Proc, free_port};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// A gateway config whose control plane never answers.
fn lonely_config(listen: &str, admin: &str) -> String {
    format!(
        "[gateway]\nlisten = \"{listen}\"\nadmin_listen = \"{admin}\"\n\
         control_plane_url = \"http://127.0.0.1:{}\"\nupstream = \"http://127.0.0.1:9\"\n\
         allow_stale_revocation = true\n",
        free_port().unwrap_or(1)
    )
}

#[tokio::test]
async fn ready_names_what_is_missing_and_a_taken_address_stops_the_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (listen, admin) = (
        format!("127.0.0.1:{}", free_port()?),
        format!("127.0.0.1:{}", free_port()?),
    );
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, lonely_config(&listen, &admin))?;
    let file_arg = file.display().to_string();
    let mut gateway = Proc::spawn(
        "gateway",
        dir.path(),
        &["gateway", "--config", &file_arg],
        &[],
    )?;
    // The admin listener answers while the gateway still waits for keys.
    let c = http();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(r) = c.get(format!("http://{admin}/ready")).send().await {
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            break r.text().await?;
        }
        if Instant::now() > deadline {
            return Err(format!("no admin listener\n{}", gateway.output()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        body.contains("not ready: no signing keys from the control plane yet"),
        "{body}"
    );
    let live = c.get(format!("http://{admin}/live")).send().await?;
    assert_eq!(live.status(), StatusCode::OK);
    gateway.kill();

    // A second gateway on the same proxy address: refused, named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let taken_addr = taken.local_addr()?.to_string();
    let other = dir.path().join("taken.toml");
    let admin2 = format!("127.0.0.1:{}", free_port()?);
    std::fs::write(&other, lonely_config(&taken_addr, &admin2))?;
    let other_arg = other.display().to_string();
    let mut refused = Proc::spawn(
        "taken",
        dir.path(),
        &["gateway", "--config", &other_arg],
        &[],
    )?;
    let status = refused.wait_exit(Duration::from_secs(20))?;
    assert!(!status.success(), "started on a taken address");
    let output = refused.output();
    assert!(
        output.contains(&format!("cannot listen on `{taken_addr}`")),
        "{output}"
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_turns_unready_then_keeps_accepting_for_the_delay() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let delay = [("WRNEXUS_GATEWAY__SHUTDOWN_DELAY_MS", "1500")];
    let mut stack = Stack::split_with(&database_url, &services::redis_url(), &delay).await?;
    let c = http();
    let gw = stack.gateway.clone();
    let admin = stack.admin.clone();
    let alice = sign_up(&c, &gw, &client::email("alice")).await?;
    let ready = c.get(format!("{admin}/ready")).send().await?;
    assert_eq!(ready.status(), StatusCode::OK);
    // A slow request in flight across the whole shutdown.
    let slow = {
        let (url, cookie) = (format!("{gw}/report?delay_ms=2500"), alice.cookie.clone());
        tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()?;
            let r = c.get(url).header("cookie", cookie).send().await?;
            Ok::<_, reqwest::Error>(r.status())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let proc = stack.procs.last_mut().ok_or("no gateway process")?;
    proc.terminate()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unready = c.get(format!("{admin}/ready")).send().await?;
    assert_eq!(unready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(unready.text().await?.contains("shutting down"));
    // Within the delay a new connection is still served.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let during = alice
        .req(&fresh, Method::GET, &format!("{gw}/report"))
        .send()
        .await?;
    assert_eq!(during.status(), StatusCode::OK);
    // After it, none is taken.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let late = fresh
        .get(format!("{gw}/report"))
        .header("cookie", &alice.cookie)
        .send()
        .await;
    assert!(
        late.is_err(),
        "a new connection was taken after the delay: {late:?}"
    );
    assert_eq!(slow.await??, StatusCode::OK, "the in-flight request failed");
    let status = proc.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "{status}");
    Ok(())
}
