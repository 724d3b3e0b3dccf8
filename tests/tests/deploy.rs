//! The Prometheus files in `deploy/` are valid and their alerts behave:
//! `promtool check config`, `check rules` and `test rules`. (That every
//! metric they name exists is checked against a running gateway in the
//! embedded suite.)

use std::path::Path;
use std::process::Command;
use wrnexus_e2e::TestResult;

fn promtool(args: &[&str]) -> TestResult<Option<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    promtool_in(&dir, args)
}

fn promtool_in(dir: &Path, args: &[&str]) -> TestResult<Option<String>> {
    let out = match Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            return Err(format!("promtool is required but unavailable: {e}").into());
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING promtool checks: {e} !!!\n");
            return Ok(None);
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("promtool {args:?} failed:\n{text}").into());
    }
    Ok(Some(text))
}

#[test]
fn the_prometheus_files_check_and_their_alerts_fire() -> TestResult {
    let Some(config) = promtool(&["check", "config", "prometheus.yml"])? else {
        return Ok(());
    };
    assert!(config.contains("SUCCESS"), "{config}");
    let rules = promtool(&["check", "rules", "alerts.yml"])?.unwrap_or_default();
    assert!(rules.contains("SUCCESS"), "{rules}");
    let tests = promtool(&["test", "rules", "alerts_test.yml"])?.unwrap_or_default();
    assert!(tests.contains("SUCCESS"), "{tests}");
    Ok(())
}

/// Every query of the Grafana dashboard is valid PromQL: each becomes a
/// recording rule (Grafana's variables filled in) that promtool checks.
#[test]
fn the_dashboard_queries_parse() -> TestResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/wrnexus.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut count = 0;
    for panel in dashboard["panels"].as_array().ok_or("no panels")? {
        // Rows hold no queries.
        if panel["type"] == "row" {
            continue;
        }
        for target in panel["targets"].as_array().ok_or("no targets")? {
            let expr = target["expr"].as_str().ok_or("no expr")?;
            let expr = [
                "$__rate_interval",
                "$api_route",
                "$route",
                "$instance",
                "$job",
            ]
            .iter()
            .zip(["5m", ".*", ".*", ".*", ".*"])
            .fold(expr.to_string(), |e, (var, value)| e.replace(var, value));
            count += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query{count}\n        expr: {}\n",
                serde_json::to_string(&expr)?
            ));
        }
    }
    assert!(count >= 30, "only {count} queries");
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("queries.yml"), rules)?;
    if let Some(out) = promtool_in(dir.path(), &["check", "rules", "queries.yml"])? {
        assert!(out.contains("SUCCESS"), "{out}");
    }
    Ok(())
}
