//! Part of the main flow: an API key at the gateway (its workspace, its
//! ceiling, its identity headers, revocation) and deep links that switch
//! workspace in place.

use reqwest::{Client, Method, StatusCode};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{User, json_body};

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
    Ok(())
}
