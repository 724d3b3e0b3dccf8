//! The main flow on embedded defaults: `wrnexus dev`, SQLite, no Postgres,
//! no Redis; then the metrics it left behind.

mod scenario;

use std::io::Write;
use std::process::{Command, Stdio};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::stack::Stack;

/// The value of the first sample line starting with `prefix`.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `promtool check metrics` on `text`; `None` when promtool is missing and
/// not required.
fn promtool_check(text: &str) -> TestResult<Option<String>> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            return Err(format!("promtool is required but unavailable: {e}").into());
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING `promtool check metrics`: {e} !!!\n");
            return Ok(None);
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
    if !out.status.success() {
        return Err(format!("promtool check metrics failed:\n{report}").into());
    }
    Ok(Some(report))
}

/// The gateway metric names (`wrnexus_gateway_*`) a file mentions.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("wrnexus_gateway_"))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn main_flow_embedded() -> TestResult {
    let stack = Stack::embedded().await?;
    let result = async {
        scenario::main_flow(&stack).await?;
        let metrics = reqwest::get(format!("{}/metrics", stack.admin))
            .await?
            .text()
            .await?;
        for family in [
            "wrnexus_gateway_requests_total{",
            "wrnexus_gateway_decision_duration_seconds_count{",
            "wrnexus_gateway_upstream_duration_seconds_count{",
            "wrnexus_gateway_cache_lookups_total{result=\"hit\"}",
            "wrnexus_gateway_cache_lookups_total{result=\"miss\"}",
            "wrnexus_gateway_invalidation_lag_seconds_count{",
            "wrnexus_gateway_key_usage_reports_total{result=\"sent\"}",
            "wrnexus_gateway_cache_entries",
            "wrnexus_gateway_cache_capacity",
        ] {
            let value = sample(&metrics, family).ok_or(format!("no `{family}` in:\n{metrics}"))?;
            assert!(value > 0.0, "{family} is {value}");
        }
        for decision in ["allow", "deny", "unauthenticated", "bad_request"] {
            assert!(
                metrics.contains(&format!("decision=\"{decision}\"")),
                "no `{decision}` requests counted"
            );
        }
        assert_eq!(
            sample(&metrics, "wrnexus_gateway_requests_in_flight"),
            Some(0.0)
        );
        // No per-user or per-workspace label, whatever the traffic (help
        // texts aside: `process_cpu_seconds_total` counts "user" CPU time).
        assert!(
            !metrics
                .lines()
                .filter(|l| !l.starts_with('#'))
                .any(|l| l.contains("user") || l.contains("workspace_id"))
        );
        // Every metric the shipped alert rules and dashboard name is exported.
        let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let rules = std::fs::read_to_string(deploy.join("prometheus/alerts.yml"))?
            + &std::fs::read_to_string(deploy.join("grafana/wrnexus.json"))?;
        let names = metric_names(&rules);
        assert!(names.len() >= 8, "{names:?}");
        for name in names {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                metrics.contains(&format!("# TYPE {base} ")),
                "the deploy files use `{name}`, which the gateway does not export"
            );
        }
        if let Some(report) = promtool_check(&metrics)? {
            assert!(!report.contains("problem"), "promtool: {report}");
        }
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

/// `wrnexus dev` greets a browser with the switcher at once: the demo app
/// answers HTML to browsers (and JSON to everyone else), and the gateway
/// serves the switcher's script.
#[tokio::test]
async fn the_demo_app_greets_browsers_with_the_switcher() -> TestResult {
    use reqwest::header::{ACCEPT, CONTENT_TYPE};
    let stack = Stack::embedded().await?;
    let result = async {
        let c = wrnexus_e2e::client::http();
        let gw = stack.gateway.as_str();
        let user =
            wrnexus_e2e::client::sign_up(&c, gw, &wrnexus_e2e::client::email("demo")).await?;
        let url = format!("{gw}/projects/42?tab=x");
        let browser_accept =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        let page = user
            .req(&c, reqwest::Method::GET, &url)
            .header(ACCEPT, browser_accept)
            .send()
            .await?;
        let kind = page.headers().get(CONTENT_TYPE).cloned();
        let html = page.text().await?;
        assert!(
            kind.is_some_and(|k| k.to_str().unwrap_or("").starts_with("text/html")),
            "{html}"
        );
        assert!(html.contains("<wrnexus-switcher>"), "{html}");
        assert!(
            html.contains(r#"<script type="module" src="/.wrnexus/switcher.js">"#),
            "{html}"
        );
        assert!(html.contains("/projects/42?tab=x"), "{html}");
        assert!(html.contains(&user.workspace_id), "{html}");

        // Apps and scripts keep the JSON echo.
        for accept in ["application/json", "*/*"] {
            let (status, body) = wrnexus_e2e::client::json_body(
                user.req(&c, reqwest::Method::GET, &url)
                    .header(ACCEPT, accept)
                    .send()
                    .await?,
            )
            .await?;
            assert_eq!(status, reqwest::StatusCode::OK);
            assert_eq!(body["path"], "/projects/42", "{accept}: {body}");
            assert_eq!(body["query"], "tab=x", "{accept}: {body}");
        }

        let script = c.get(format!("{gw}/.wrnexus/switcher.js")).send().await?;
        assert_eq!(script.status(), reqwest::StatusCode::OK);
        let kind = script
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(kind.starts_with("text/javascript"), "{kind}");
        assert!(script.text().await?.contains("wrnexus-switcher"));
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
