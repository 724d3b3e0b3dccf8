//! Part of the main flow: an API key at the gateway (its workspace, its
//! ceiling, its identity headers, its last use, revocation, refusals in the
//! audit log) and deep links that switch workspace in place.

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{User, json_body};

/// How long reports of key use may take to reach the control plane (the
/// gateway flushes every 2 s).
const REPORTED_WITHIN: Duration = Duration::from_secs(10);

/// Poll `url` as `user` until `found` picks something from the JSON answer.
async fn eventually<T>(
    c: &Client,
    user: &User,
    url: &str,
    what: &str,
    found: impl Fn(&Value) -> Option<T>,
) -> TestResult<T> {
    let deadline = Instant::now() + REPORTED_WITHIN;
    loop {
        let (status, body) = json_body(user.req(c, Method::GET, url).send().await?).await?;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        if let Some(t) = found(&body) {
            return Ok(t);
        }
        if Instant::now() > deadline {
            return Err(format!("{what} not seen within {REPORTED_WITHIN:?}: {body}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The audit row of a refusal of `key_id` at the gateway for `reason`.
fn refusal<'a>(log: &'a Value, key_id: &str, reason: &str) -> Option<&'a Value> {
    log["entries"].as_array()?.iter().find(|e| {
        e["actor_id"] == key_id
            && e["outcome"] == "failure"
            && e["detail"]["reason"] == reason
            && e["detail"]["via"] == "gateway"
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn api_key_and_deep_links(
    c: &Client,
    gw: &str,
    api: &str,
    alice: &mut User,
    outsider: &User,
    team: &str,
    key: &str,
    key_id: &str,
) -> TestResult {
    // The key at the gateway: its workspace, its ceiling (viewer), its
    // identity headers; never another workspace, by header or by path.
    let used_from = now();
    let (status, echo) =
        json_body(c.get(format!("{gw}/doc")).bearer_auth(key).send().await?).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["headers"]["x-api-key-id"], key_id);
    assert_eq!(echo["headers"]["x-workspace-id"], team);
    assert_eq!(echo["headers"]["x-workspace-role"], "viewer");
    assert!(echo["headers"].get("x-user-id").is_none(), "{echo}");
    let r = c.post(format!("{gw}/doc")).bearer_auth(key).send().await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for r in [
        c.get(format!("{gw}/doc"))
            .bearer_auth(key)
            .header("X-Workspace-Id", &alice.workspace_id),
        c.get(format!("{gw}/w/{}/doc", alice.workspace_id))
            .bearer_auth(key),
    ] {
        let (status, body) = json_body(r.send().await?).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("api_key_wrong_workspace")),
            "{body}"
        );
    }
    // The same key with its last secret digit changed.
    let flipped = if key.ends_with('0') { '1' } else { '0' };
    let bad = format!("{}{flipped}", &key[..key.len() - 1]);
    let r = c.get(format!("{gw}/doc")).bearer_auth(&bad).send().await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Used only through the gateway, the key shows its last use within
    // seconds; the wrong secret is in the team's audit log.
    let keys_url = format!("{api}/workspaces/{team}/api-keys");
    let last_used = eventually(c, alice, &keys_url, "the key's last use", |b| {
        b["api_keys"]
            .as_array()?
            .iter()
            .find(|k| k["id"] == key_id)?["last_used_at"]
            .as_i64()
    })
    .await?;
    assert!(
        (used_from..=now()).contains(&last_used),
        "last used {last_used}, not since {used_from}"
    );
    let audit_url = format!("{api}/workspaces/{team}/audit?action=api_key.used");
    // So is the key's attempt at another workspace.
    eventually(c, alice, &audit_url, "the refusals' audit rows", |log| {
        refusal(log, key_id, "wrong_secret")?;
        refusal(log, key_id, "wrong_workspace").map(|_| ())
    })
    .await?;

    // A deep link into another of alice's workspaces switches her there,
    // in place: the same session, a new cookie, and the next request
    // resolves the team. An outsider following it gets 404.
    let r = alice
        .req(c, Method::GET, &format!("{gw}/w/{team}/docs/1"))
        .send()
        .await?;
    alice.update_cookie(&r);
    let (status, echo) = json_body(r).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["path"], format!("/w/{team}/docs/1"));
    assert_eq!(echo["headers"]["x-workspace-id"], team);
    let (_, echo) = json_body(
        alice
            .req(c, Method::GET, &format!("{gw}/doc"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(echo["headers"]["x-workspace-id"], team, "{echo}");
    let r = outsider
        .req(c, Method::GET, &format!("{gw}/w/{team}/docs/1"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = outsider
        .req(
            c,
            Method::GET,
            &format!("{gw}/w/{}/docs/1", outsider.workspace_id),
        )
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);

    // Revoking the key stops it at the gateway within a second.
    let r = alice
        .req(
            c,
            Method::DELETE,
            &format!("{api}/workspaces/{team}/api-keys/{key_id}"),
        )
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let r = c.get(format!("{gw}/doc")).bearer_auth(key).send().await?;
        if r.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked key still works"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The revoked key, tried again: the refusal reaches the team's audit
    // log with the request it came with.
    let r = c
        .get(format!("{gw}/doc"))
        .bearer_auth(key)
        .header("user-agent", "revoked-key-probe/1.0")
        .send()
        .await?;
    let (status, problem) = json_body(r).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    let request_id = problem["request_id"]
        .as_str()
        .ok_or(format!("no request id: {problem}"))?
        .to_string();
    let row = eventually(c, alice, &audit_url, "the revoked key's audit row", |log| {
        log["entries"]
            .as_array()?
            .iter()
            .find(|e| e["request_id"] == request_id.as_str())
            .cloned()
    })
    .await?;
    assert_eq!(
        (
            &row["workspace_id"],
            &row["actor_kind"],
            &row["target"],
            &row["user_agent"],
            &row["detail"]["reason"]
        ),
        (
            &Value::from(team),
            &Value::from("api_key"),
            &Value::from(key_id),
            &Value::from("revoked-key-probe/1.0"),
            &Value::from("revoked")
        ),
        "{row}"
    );
    assert_eq!(row["ip"], "127.0.0.1", "{row}");
    assert!(
        !row.to_string().contains(&key[key.len() - 16..]),
        "the audit row shows the secret"
    );
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
