//! A real Prometheus server, with the shipped scrape config and alert rules,
//! scrapes real processes: an embedded gateway, whose request counter it
//! sees grow; and a gateway and a control plane on Postgres and Redis under
//! traffic, against which every dashboard query (its variables filled in)
//! and every alert expression is evaluated through the HTTP API. Both
//! services' `/metrics` pass `promtool check metrics`, and an app's own
//! 503s do not make the fail-closed alert's expression true.

use axum::Router;
use axum::http::StatusCode;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{self, User, http, sign_up};
use wrnexus_e2e::process::{Proc, free_port};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// A Prometheus server scraping the shipped config's two jobs, pointed at
/// `gateway_admin` and `control_plane` (`host:port`), every second.
struct Prometheus {
    url: String,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

/// Whether `/usr/bin/prometheus` is here; without it, a loud skip (or a
/// failure when the suite requires its services).
fn prometheus_program() -> TestResult<Option<&'static Path>> {
    let program = Path::new("/usr/bin/prometheus");
    if program.is_file() {
        return Ok(Some(program));
    }
    if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        return Err("prometheus is required (Debian package `prometheus`) but missing".into());
    }
    eprintln!("\n!!! SKIPPING the Prometheus scrape test: no /usr/bin/prometheus !!!\n");
    Ok(None)
}

impl Prometheus {
    fn start(program: &Path, gateway_admin: &str, control_plane: &str) -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
        let config = std::fs::read_to_string(shipped.join("prometheus.yml"))?
            .replace("\"127.0.0.1:9090\"", &format!("\"{gateway_admin}\""))
            .replace("\"127.0.0.1:7070\"", &format!("\"{control_plane}\""))
            .replace("scrape_interval: 15s", "scrape_interval: 1s")
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s");
        std::fs::write(dir.path().join("prometheus.yml"), config)?;
        std::fs::copy(shipped.join("alerts.yml"), dir.path().join("alerts.yml"))?;
        let listen = format!("127.0.0.1:{}", free_port()?);
        let config_arg = format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        );
        let data_arg = format!("--storage.tsdb.path={}", dir.path().join("data").display());
        let listen_arg = format!("--web.listen-address={listen}");
        let proc = Proc::spawn_program(
            program,
            "prometheus",
            dir.path(),
            &[&config_arg, &data_arg, &listen_arg],
            &[],
        )?;
        Ok(Prometheus {
            url: format!("http://{listen}"),
            _proc: proc,
            _dir: dir,
        })
    }

    /// An instant query's result, or Prometheus's error (e.g. it does not parse).
    async fn query(&self, c: &reqwest::Client, q: &str) -> TestResult<Result<Vec<Value>, String>> {
        let body: Value = c
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .send()
            .await?
            .json()
            .await?;
        if body["status"] == "success" {
            return Ok(Ok(body["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()));
        }
        Ok(Err(format!("{}: {}", body["errorType"], body["error"])))
    }

    /// The first sample's value of `q`, if any.
    async fn value(&self, c: &reqwest::Client, q: &str) -> TestResult<Option<f64>> {
        Ok(self.query(c, q).await?.ok().and_then(|r| {
            r.first()
                .and_then(|s| s["value"][1].as_str())
                .and_then(|v| v.parse().ok())
        }))
    }

    /// Wait until `q`'s first value satisfies `ok`.
    async fn until(&self, c: &reqwest::Client, q: &str, ok: impl Fn(f64) -> bool) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.value(c, q).await.ok().flatten();
            if value.is_some_and(&ok) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("`{q}` stayed at {value:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test]
async fn prometheus_scrapes_the_gateway() -> TestResult {
    let Some(program) = prometheus_program()? else {
        return Ok(());
    };
    let stack = Stack::embedded().await?;
    let admin = stack.admin.trim_start_matches("http://");
    // `wrnexus dev` serves no separate control-plane metrics listener.
    let prom = Prometheus::start(program, admin, "127.0.0.1:9")?;
    let c = http();
    let result = async {
        let requests = "sum(wrnexus_gateway_requests_total)";
        prom.until(&c, "up{job=\"wrnexus-gateway\"}", |v| v == 1.0)
            .await?;
        prom.until(&c, requests, |_| true).await?;
        let before = prom.value(&c, requests).await?.unwrap_or(0.0);
        let alice = sign_up(&c, &stack.gateway, &client::email("alice")).await?;
        for _ in 0..5 {
            alice
                .req(&c, reqwest::Method::GET, &format!("{}/doc", stack.gateway))
                .send()
                .await?;
        }
        prom.until(&c, requests, |now| now >= before + 5.0).await?;
        let rules = alert_rules(&c, &prom).await?;
        assert!(rules.iter().any(|r| r["name"] == "WRNexusFailClosed"));
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

/// Every alerting rule Prometheus loaded, as `/api/v1/rules` lists them.
async fn alert_rules(c: &reqwest::Client, prom: &Prometheus) -> TestResult<Vec<Value>> {
    let body: Value = c
        .get(format!("{}/api/v1/rules?type=alert", prom.url))
        .send()
        .await?
        .json()
        .await?;
    let groups = body["data"]["groups"].as_array().ok_or("no rule groups")?;
    Ok(groups
        .iter()
        .filter_map(|g| g["rules"].as_array())
        .flatten()
        .cloned()
        .collect())
}

/// Dashboard queries whose series only some deployments have (routes with
/// health checks). They must parse; they may be empty here.
const DEPLOYMENT_DEPENDENT: &[&str] = &["wrnexus_gateway_upstream_healthy"];

/// Every query of the shipped dashboard, its variables set to "All".
fn dashboard_queries() -> TestResult<Vec<(String, String)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/wrnexus.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().ok_or("no panels")? {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().ok_or("a target without expr")?;
            let expr = [
                "$__rate_interval",
                "$api_route",
                "$route",
                "$instance",
                "$job",
            ]
            .iter()
            .zip(["1m", ".*", ".*", ".*", ".*"])
            .fold(expr.to_string(), |e, (var, value)| e.replace(var, value));
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            queries.push((title, expr));
        }
    }
    Ok(queries)
}

/// `promtool check metrics` on a `/metrics` exposition: no problem reported.
fn promtool_check_metrics(text: &str) -> TestResult {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            return Err(format!("promtool is required but unavailable: {e}").into());
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING `promtool check metrics`: {e} !!!\n");
            return Ok(());
        }
    };
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && report.trim().is_empty(), "{report}");
    Ok(())
}

/// An app route, `/app`, whose `/app/down` answers 503 itself.
async fn app_with_an_outage() -> TestResult<u16> {
    let router = Router::new().route(
        "/app/down",
        axum::routing::get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
    );
    let (_app, port) = apps::serve(App::new("app"), router).await?;
    Ok(port)
}

/// Traffic that touches both services: sign-ups and sign-ins, API calls,
/// allowed, unauthenticated and app-503 requests.
async fn traffic(c: &reqwest::Client, gw: &str) -> TestResult<User> {
    let alice = sign_up(c, gw, &client::email("alice")).await?;
    sign_up(c, gw, &client::email("bob")).await?;
    for _ in 0..10 {
        let page = alice
            .req(c, reqwest::Method::GET, &format!("{gw}/app/page"))
            .send()
            .await?;
        assert_eq!(page.status(), reqwest::StatusCode::OK);
        let down = alice
            .req(c, reqwest::Method::GET, &format!("{gw}/app/down"))
            .send()
            .await?;
        assert_eq!(down.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
        c.get(format!("{gw}/app/page")).send().await?;
        alice
            .req(
                c,
                reqwest::Method::GET,
                &format!("{gw}/.wrnexus/api/v1/account"),
            )
            .send()
            .await?;
    }
    Ok(alice)
}

#[tokio::test]
async fn every_dashboard_query_and_alert_answers_on_a_running_fleet() -> TestResult {
    let Some(program) = prometheus_program()? else {
        return Ok(());
    };
    let Some(database) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let port = app_with_an_outage().await?;
    let routes = format!(
        "[[gateway.routes]]\nname = \"app\"\npath_prefix = \"/app\"\nupstream = \"http://127.0.0.1:{port}\"\n"
    );
    let stack = Stack::routed(&database, &services::redis_url(), &routes).await?;
    let admin = stack.admin.trim_start_matches("http://");
    let cp = stack.control_plane.trim_start_matches("http://");
    let prom = Prometheus::start(program, admin, cp)?;
    let c = http();
    let result = async {
        for job in ["wrnexus-gateway", "wrnexus-control-plane"] {
            prom.until(&c, &format!("up{{job=\"{job}\"}}"), |v| v == 1.0)
                .await?;
        }
        let alice = traffic(&c, &stack.gateway).await?;
        let app_503s = "sum(wrnexus_gateway_requests_total{route=\"app\",status=\"503\"})";
        prom.until(&c, app_503s, |v| v >= 10.0).await?;
        // More of the app's 503s, over seconds, once their series is
        // scraped: a rate over them is above the old rule's threshold.
        for _ in 0..10 {
            let down = format!("{}/app/down", stack.gateway);
            alice.req(&c, reqwest::Method::GET, &down).send().await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        prom.until(&c, app_503s, |v| v >= 20.0).await?;
        prom.until(
            &c,
            "sum(wrnexus_control_plane_api_request_duration_seconds_count)",
            |v| v >= 10.0,
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;

        for url in [
            format!("{}/metrics", stack.admin),
            format!("{}/metrics", stack.control_plane),
        ] {
            let text = c.get(&url).send().await?.text().await?;
            assert!(text.contains("wrnexus_build_info{"), "{url}: {text}");
            assert!(text.contains("process_resident_memory_bytes "), "{url}");
            promtool_check_metrics(&text)?;
        }

        // Every dashboard query parses; those this traffic feeds have data.
        let queries = dashboard_queries()?;
        assert!(queries.len() >= 30, "{} queries", queries.len());
        let mut empty = Vec::new();
        for (title, expr) in &queries {
            let result = prom
                .query(&c, expr)
                .await?
                .map_err(|e| format!("{title}: `{expr}` fails: {e}"))?;
            if result.is_empty() && !DEPLOYMENT_DEPENDENT.iter().any(|m| expr.contains(m)) {
                empty.push(format!("{title}: {expr}"));
            }
        }
        assert!(
            empty.is_empty(),
            "queries without data:\n{}",
            empty.join("\n")
        );

        // Every alert expression parses and evaluates, in Prometheus's own
        // rule evaluation too; the series each watches exist.
        let rules = alert_rules(&c, &prom).await?;
        assert!(rules.len() >= 16, "{} rules", rules.len());
        let deadline = Instant::now() + Duration::from_secs(20);
        while rules_health(&c, &prom)
            .await?
            .iter()
            .any(|h| h == "unknown")
        {
            if Instant::now() > deadline {
                return Err("rules never evaluated".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for rule in alert_rules(&c, &prom).await? {
            let (name, expr) = (&rule["name"], rule["query"].as_str().ok_or("no query")?);
            assert_eq!(rule["health"], "ok", "{name}: {rule}");
            prom.query(&c, expr)
                .await?
                .map_err(|e| format!("{name}: `{expr}` fails: {e}"))?;
            for metric in metric_names(expr) {
                let count = prom.value(&c, &format!("count({metric})")).await?;
                assert!(
                    count.is_some_and(|n| n > 0.0),
                    "{name} watches {metric}, absent"
                );
            }
        }

        // The app answered 503 ten times: what the old rule counted pages
        // nobody now. The gateway itself failed nothing closed.
        let old_rule =
            "sum by (instance) (rate(wrnexus_gateway_requests_total{status=\"503\"}[1m])) > 0.1";
        assert!(!prom.query(&c, old_rule).await??.is_empty());
        let fail_closed = rules
            .iter()
            .find(|r| r["name"] == "WRNexusFailClosed")
            .and_then(|r| r["query"].as_str())
            .ok_or("no WRNexusFailClosed")?;
        assert_eq!(prom.query(&c, fail_closed).await??, Vec::<Value>::new());
        assert_eq!(
            prom.value(&c, "sum(wrnexus_gateway_fail_closed_total)")
                .await?,
            Some(0.0)
        );
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

/// The health of every alerting rule: `unknown` until first evaluated.
async fn rules_health(c: &reqwest::Client, prom: &Prometheus) -> TestResult<Vec<String>> {
    Ok(alert_rules(c, prom)
        .await?
        .iter()
        .map(|r| r["health"].as_str().unwrap_or("unknown").to_string())
        .collect())
}

/// The metric names an expression selects (`up` and every `wrnexus_` or
/// `process_` name).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names: Vec<String> = expr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("wrnexus_") || w.starts_with("process_") || *w == "up")
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}
