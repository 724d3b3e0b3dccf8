//! Graceful shutdown: on SIGTERM the gateway stops accepting, the requests
//! in flight finish (none fails), and the process exits within its bound.

use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::stack::Stack;

#[tokio::test]
async fn sigterm_drains_in_flight_requests() -> TestResult {
    let mut stack = Stack::embedded().await?;
    let c = http();
    let alice = sign_up(&c, &stack.gateway, &client::email("alice")).await?;
    let slow = format!("{}/report?delay_ms=1500", stack.gateway);
    let r = alice
        .req(&c, Method::GET, &format!("{}/report", stack.gateway))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);

    // Eight slow requests in flight, each on its own connection.
    let in_flight: Vec<_> = (0..8)
        .map(|_| {
            let c = reqwest::Client::builder().pool_max_idle_per_host(0).build();
            let (url, cookie) = (slow.clone(), alice.cookie.clone());
            tokio::spawn(async move {
                let c = c?;
                let r = c.get(url).header("cookie", cookie).send().await?;
                Ok::<_, reqwest::Error>(r.status())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stack_gateway = stack.gateway.clone();
    let proc = stack.procs.first_mut().ok_or("no process")?;
    let signalled = Instant::now();
    proc.terminate()?;
    // New connections are no longer taken.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let late = fresh
        .get(format!("{}/report", stack_gateway))
        .header("cookie", &alice.cookie)
        .send()
        .await;
    assert!(
        late.is_err(),
        "a new connection was accepted after SIGTERM: {late:?}"
    );

    for request in in_flight {
        let status = request.await??;
        assert_eq!(
            status,
            StatusCode::OK,
            "an in-flight request failed during shutdown"
        );
    }
    let status = proc.wait_exit(Duration::from_secs(20))?;
    eprintln!("exited {status} after {:?}", signalled.elapsed());
    assert!(signalled.elapsed() < Duration::from_secs(20));
    Ok(())
}
