//! A real Prometheus server scrapes a running gateway with the shipped
//! scrape config (its target pointed at the test's admin listener) and
//! sees, through its HTTP API, the target up and the request counter grow.

use std::path::Path;
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::process::{Proc, free_port};
use wrnexus_e2e::stack::Stack;

async fn query(c: &reqwest::Client, prom: &str, q: &str) -> TestResult<Option<f64>> {
    let body: serde_json::Value = c
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await?
        .json()
        .await?;
    Ok(body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok()))
}

#[tokio::test]
async fn prometheus_scrapes_the_gateway() -> TestResult {
    let program = Path::new("/usr/bin/prometheus");
    if !program.is_file() {
        if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            return Err("prometheus is required (Debian package `prometheus`) but missing".into());
        }
        eprintln!("\n!!! SKIPPING the Prometheus scrape test: no /usr/bin/prometheus !!!\n");
        return Ok(());
    }
    let stack = Stack::embedded().await?;
    let dir = tempfile::tempdir()?;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    let admin = stack.admin.trim_start_matches("http://").to_string();
    let config = std::fs::read_to_string(shipped.join("prometheus.yml"))?
        .replace("\"127.0.0.1:9090\"", &format!("\"{admin}\""))
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    std::fs::write(dir.path().join("prometheus.yml"), config)?;
    std::fs::copy(shipped.join("alerts.yml"), dir.path().join("alerts.yml"))?;
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let config_arg = format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    );
    let data_arg = format!("--storage.tsdb.path={}", dir.path().join("data").display());
    let listen_arg = format!("--web.listen-address={listen}");
    let _prometheus = Proc::spawn_program(
        program,
        "prometheus",
        dir.path(),
        &[&config_arg, &data_arg, &listen_arg],
        &[],
    )?;
    let prom = format!("http://{listen}");
    let c = http();
    let result = async {
        let up = "up{job=\"wrnexus-gateway\"}";
        let requests = "sum(wrnexus_gateway_requests_total)";
        let deadline = Instant::now() + Duration::from_secs(30);
        let before = loop {
            if query(&c, &prom, up).await.ok().flatten() == Some(1.0)
                && let Some(n) = query(&c, &prom, requests).await?
            {
                break n;
            }
            if Instant::now() > deadline {
                return Err("the gateway target never came up".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let alice = sign_up(&c, &stack.gateway, &client::email("alice")).await?;
        for _ in 0..5 {
            alice
                .req(&c, reqwest::Method::GET, &format!("{}/doc", stack.gateway))
                .send()
                .await?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = query(&c, &prom, requests).await?.unwrap_or(0.0);
            if now >= before + 5.0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("the request counter stayed at {now} (from {before})").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // The rules loaded too.
        let rules: serde_json::Value = c
            .get(format!("{prom}/api/v1/rules"))
            .send()
            .await?
            .json()
            .await?;
        assert!(rules.to_string().contains("WRNexusFailClosed"), "{rules}");
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
