//! The access log over the real binary (`wrnexus dev --access-log`): one
//! flat JSON line per request, allowed, denied, refused or by API key,
//! with the ids that tie it to the refusal, and never a secret; without
//! the flag, no line at all.

use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, USER_AGENT};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http};
use wrnexus_e2e::stack::Stack;

/// The access log lines in `text` (JSON objects with a `request_id`).
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("request_id").is_some() && v.get("decision").is_some())
        .collect()
}

/// The lines of requests sent as `agent`, once there are `count` of them
/// (and a moment later, to see that no more come).
async fn lines_of(path: &Path, agent: &str, count: usize) -> TestResult<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<Value> = lines(&text)
            .into_iter()
            .filter(|l| l["user_agent"] == agent)
            .collect();
        if found.len() >= count || Instant::now() > deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let text = std::fs::read_to_string(path).unwrap_or_default();
            return Ok(lines(&text)
                .into_iter()
                .filter(|l| l["user_agent"] == agent)
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(
    c: &Client,
    url: &str,
    agent: &str,
    headers: &[(&str, &str)],
) -> TestResult<(StatusCode, String)> {
    let mut req = c
        .get(url)
        .header(USER_AGENT, agent)
        .header(ACCEPT, "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = req.send().await?;
    Ok((response.status(), response.text().await?))
}

#[tokio::test]
async fn one_line_per_request_with_its_decision_and_no_secret() -> TestResult {
    let logs = tempfile::tempdir()?;
    let path = logs.path().join("access.log");
    let path_arg = path.display().to_string();
    let stack = Stack::embedded_args(&["--access-log", &path_arg]).await?;
    let result = async {
        let c = http();
        let gw = &stack.gateway;
        let alice = client::sign_up(&c, gw, &client::email("alice")).await?;
        let bob = client::sign_up(&c, gw, &client::email("bob")).await?;
        let (key_id, key) =
            client::create_api_key(&c, gw, &alice, &alice.workspace_id, "member").await?;

        // Allowed, by session, with a secret in the query string.
        let (status, _) = get(
            &c,
            &format!("{gw}/reports?token=q-s3cr3t&x=1"),
            "al-allowed",
            &[(COOKIE.as_str(), &alice.cookie)],
        )
        .await?;
        let allowed = lines_of(&path, "al-allowed", 1).await?;
        assert_eq!(allowed.len(), 1, "{allowed:?}");
        let line = &allowed[0];
        assert_eq!(line["status"], status.as_u16());
        assert_eq!(line["decision"], "allow");
        assert_eq!(line["cause"], Value::Null);
        assert_eq!(line["method"], "GET");
        assert_eq!(line["path"], "/reports");
        assert_eq!(line["principal"], "session");
        assert_eq!(line["user_id"], alice.id.as_str());
        assert_eq!(line["workspace_id"], alice.workspace_id.as_str());
        assert_eq!(line["client_ip"], "127.0.0.1");
        assert!(line["route"].is_string(), "{line}");
        assert!(line["upstream_ms"].is_number(), "{line}");
        assert!(line["decision_us"].is_number(), "{line}");
        assert!(line["duration_ms"].as_f64() > Some(0.0), "{line}");
        assert!(line["bytes_out"].as_u64() > Some(0), "{line}");
        let time = line["time"].as_str().ok_or("no time")?;
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
        assert!(
            line.as_object()
                .is_some_and(|o| o.values().all(|v| !v.is_object() && !v.is_array())),
            "not flat: {line}"
        );

        // Denied: bob names alice's workspace.
        let (status, body) = get(
            &c,
            &format!("{gw}/w/{}/reports", alice.workspace_id),
            "al-denied",
            &[(COOKIE.as_str(), &bob.cookie)],
        )
        .await?;
        let denied = lines_of(&path, "al-denied", 1).await?;
        assert_eq!(denied.len(), 1, "{denied:?}");
        assert_eq!(denied[0]["status"], status.as_u16());
        assert_eq!(denied[0]["decision"], "deny");
        assert_eq!(denied[0]["principal"], "session");
        let problem: Value = serde_json::from_str(&body)?;
        assert_eq!(denied[0]["cause"], problem["code"], "{body}");
        assert_eq!(denied[0]["request_id"], problem["request_id"], "{body}");

        // Refused: no credential.
        let (status, body) = get(&c, &format!("{gw}/reports"), "al-anonymous", &[]).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let refused = lines_of(&path, "al-anonymous", 1).await?;
        assert_eq!(refused.len(), 1, "{refused:?}");
        let problem: Value = serde_json::from_str(&body)?;
        assert_eq!(refused[0]["status"], 401);
        assert_eq!(refused[0]["decision"], "unauthenticated");
        assert_eq!(refused[0]["cause"], "unauthenticated");
        assert_eq!(refused[0]["principal"], "anonymous");
        assert_eq!(refused[0]["request_id"], problem["request_id"], "{body}");
        assert_eq!(refused[0]["trace_id"], problem["trace_id"], "{body}");
        assert_eq!(refused[0]["trace_id"].as_str().map(str::len), Some(32));

        // By API key.
        let bearer = format!("Bearer {key}");
        let (status, _) = get(
            &c,
            &format!("{gw}/reports?api_key={key}"),
            "al-key",
            &[(AUTHORIZATION.as_str(), &bearer)],
        )
        .await?;
        let keyed = lines_of(&path, "al-key", 1).await?;
        assert_eq!(keyed.len(), 1, "{keyed:?}");
        assert_eq!(keyed[0]["status"], status.as_u16());
        assert_eq!(keyed[0]["decision"], "allow");
        assert_eq!(keyed[0]["principal"], "api_key");
        assert_eq!(keyed[0]["api_key_id"], key_id.as_str());
        assert_eq!(keyed[0]["workspace_id"], alice.workspace_id.as_str());
        assert_eq!(keyed[0]["path"], "/reports");

        // No secret anywhere in the log.
        let text = std::fs::read_to_string(&path)?;
        for secret in [alice.token(), bob.token(), key.as_str(), "q-s3cr3t"] {
            assert!(
                !text.contains(secret),
                "a secret in the access log:\n{text}"
            );
        }
        assert!(!text.contains("token="), "{text}");
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        eprintln!("{e}\n--- access log ---\n{text}\n{}", stack.logs());
    }
    result
}

#[tokio::test]
async fn off_by_default_and_to_stdout_when_asked() -> TestResult {
    let off = Stack::embedded().await?;
    let c = http();
    get(&c, &format!("{}/reports", off.gateway), "al-off", &[]).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let output = off.logs();
    assert!(
        lines(&output).is_empty(),
        "access lines without the flag:\n{output}"
    );
    drop(off);

    let on = Stack::embedded_args(&["--access-log"]).await?;
    get(&c, &format!("{}/reports", on.gateway), "al-stdout", &[]).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = lines(&on.logs())
            .into_iter()
            .filter(|l| l["user_agent"] == "al-stdout")
            .count();
        if found == 1 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{found} access lines on stdout:\n{}", on.logs()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
