//! Sessions per device over HTTP, on SQLite and on Postgres: each sign-in
//! is listed with its address and user agent, the current one marked;
//! ending one stops it at once, told only in one's personal workspace;
//! only one's own can be ended; gateways' reports move "last seen".

mod common;

use common::TestResult;
use common::http::{Api, on_both, on_both_with, session_token};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const GATEWAY_TOKEN: &str = "test-gateway-token";

/// Sign `email` in from a device calling itself `agent`: the token.
async fn sign_in_as(api: &Api, email: &str, agent: &str) -> TestResult<String> {
    let res = api
        .http
        .post(format!("{}/.wrnexus/signin", api.base))
        .header("user-agent", agent)
        .json(&json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    session_token(&res)
}

async fn sessions(api: &Api, token: &str) -> TestResult<Vec<Value>> {
    let (s, b) = api
        .call(Method::GET, "/account/sessions", token, None)
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["sessions"].as_array().ok_or("sessions")?.clone())
}

#[tokio::test]
async fn a_person_lists_and_ends_their_own_sessions() -> TestResult {
    on_both_with(
        |c| c.gateway_token = Some(GATEWAY_TOKEN.to_string()),
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let laptop = sign_in_as(&api, "ann@example.com", "Laptop/1.0 (X11)").await?;
            let phone = sign_in_as(&api, "ann@example.com", "Phone/2.0").await?;

            let listed = sessions(&api, &phone).await?;
            assert_eq!(listed.len(), 3, "sign-up, laptop, phone: {listed:?}");
            let on = |agent: &str| {
                listed
                    .iter()
                    .find(|s| s["user_agent"] == agent)
                    .cloned()
                    .ok_or(format!("no session from {agent}: {listed:?}"))
            };
            let (on_phone, on_laptop) = (on("Phone/2.0")?, on("Laptop/1.0 (X11)")?);
            assert_eq!(on_phone["current"], true);
            assert_eq!(on_laptop["current"], false);
            assert_eq!(on_laptop["client_ip"], "127.0.0.1");
            let started: Vec<i64> = listed
                .iter()
                .filter_map(|s| s["created_at"].as_i64())
                .collect();
            assert!(
                started.windows(2).all(|w| w[0] >= w[1]),
                "newest first: {listed:?}"
            );
            for s in &listed {
                assert_eq!(s["last_seen_at"], s["created_at"], "{s}");
            }
            let laptop_id = on_laptop["id"].as_str().ok_or("id")?.to_string();

            // Another person's session is not theirs to see or end.
            let bob = api.sign_up("bob@example.com").await?;
            let (s, b) = api
                .call(
                    Method::DELETE,
                    &format!("/account/sessions/{laptop_id}"),
                    &bob.token,
                    None,
                )
                .await?;
            assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
            assert_eq!(sessions(&api, &laptop).await?.len(), 3, "still live");

            // A gateway saw the laptop later: its "last seen" moves.
            let later = on_laptop["created_at"].as_i64().ok_or("created_at")? + 1;
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let report = api
                .http
                .post(format!("{}/v1/internal/key-usage", api.base))
                .bearer_auth(GATEWAY_TOKEN)
                .json(&json!({ "sessions": [
                    { "session_id": laptop_id, "at": later },
                    { "session_id": "00000000-0000-4000-8000-000000000000", "at": later },
                ] }))
                .send()
                .await?;
            assert_eq!(report.status(), StatusCode::OK);
            let applied: Value = report.json().await?;
            assert_eq!(applied["sessions_seen"], 1, "{applied}");
            let seen = sessions(&api, &phone).await?;
            let laptop_now = seen.iter().find(|s| s["id"] == laptop_id.as_str());
            assert_eq!(
                laptop_now.map(|s| &s["last_seen_at"]),
                Some(&json!(later)),
                "{seen:?}"
            );
            let bad = api
                .http
                .post(format!("{}/v1/internal/key-usage", api.base))
                .bearer_auth(GATEWAY_TOKEN)
                .json(&json!({ "sessions": [{ "session_id": "x", "at": later }] }))
                .send()
                .await?;
            assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

            // The phone ends the laptop's session: refused from then on.
            let (s, _) = api
                .call(
                    Method::DELETE,
                    &format!("/account/sessions/{laptop_id}"),
                    &phone,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::NO_CONTENT);
            let (s, _) = api
                .call(Method::GET, "/account/sessions", &laptop, None)
                .await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            assert_eq!(sessions(&api, &phone).await?.len(), 2);
            let (s, log) = api
                .call(
                    Method::GET,
                    &format!("/workspaces/{}/audit?action=session.ended", ann.personal),
                    &phone,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");

            // Ending the current one works too, and clears the cookie.
            let current = on_phone["id"].as_str().ok_or("id")?.to_string();
            let res = api
                .send(
                    Method::DELETE,
                    &format!("/account/sessions/{current}"),
                    &phone,
                    None,
                )
                .await?;
            assert_eq!(res.status(), StatusCode::NO_CONTENT);
            let cleared = res
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(cleared.contains("Max-Age=0"), "{cleared}");
            let (s, _) = api
                .call(Method::GET, "/account/sessions", &phone, None)
                .await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn an_api_key_has_no_sessions() -> TestResult {
    on_both_with(
        |_| {},
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{}/api-keys", ann.personal),
                    &ann.token,
                    Some(json!({ "name": "ci" })),
                )
                .await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            let key = b["secret"].as_str().ok_or("secret")?;
            let (s, b) = api
                .call(Method::GET, "/account/sessions", key, None)
                .await?;
            assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "user_required"));
            Ok(())
        },
    )
    .await
}

/// The `session.ended` rows of `workspace`'s log.
async fn ended_in(api: &Api, token: &str, workspace: &str) -> TestResult<Vec<Value>> {
    let (s, log) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/audit?action=session.ended"),
            token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{log}");
    Ok(log["entries"].as_array().cloned().unwrap_or_default())
}

/// Ending a session while working in a team is not told to the team's
/// admins (it names the device's address): the personal workspace's log
/// has it.
#[tokio::test]
async fn ending_a_session_is_told_only_in_the_personal_workspace() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme").await?;
        sign_in_as(&api, "ann@example.com", "Laptop/1.0").await?;
        let res = api
            .http
            .post(format!("{}/.wrnexus/switch", api.base))
            .bearer_auth(&ann.token)
            .json(&json!({ "workspace_id": team }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        let in_team = session_token(&res)?;
        let listed = sessions(&api, &in_team).await?;
        let laptop = listed
            .iter()
            .find(|s| s["user_agent"] == "Laptop/1.0")
            .and_then(|s| s["id"].as_str())
            .ok_or("no laptop session")?;
        let (s, b) = api
            .call(
                Method::DELETE,
                &format!("/account/sessions/{laptop}"),
                &in_team,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        let in_team_log = ended_in(&api, &in_team, &team).await?;
        assert!(in_team_log.is_empty(), "the team's log: {in_team_log:?}");
        let personal = ended_in(&api, &in_team, &ann.personal).await?;
        assert_eq!(personal.len(), 1, "{personal:?}");
        Ok(())
    })
    .await
}
