//! Sessions and sign-in over HTTP, on SQLite and on Postgres: rate limits,
//! audit and metrics of sign-ins, signing out everywhere, disabling a user.

mod common;

use common::TestResult;
use common::http::on_both;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn sign_in_is_rate_limited_and_audited() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let attempt = |password: &'static str| {
            api.http
                .post(format!("{}/.wrnexus/signin", api.base))
                .json(&json!({ "email": "ann@example.com", "password": password }))
                .send()
        };
        for _ in 0..3 {
            assert_eq!(
                attempt("wrong password!").await?.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let limited = attempt("correct horse battery").await?;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(limited.headers().contains_key("retry-after"));
        let body: Value = limited.json().await?;
        assert_eq!(code(&body), "rate_limited");
        let (_, log) = api
            .call(
                Method::GET,
                &format!("/workspaces/{}/audit?action=signin", ann.personal),
                &ann.token,
                None,
            )
            .await?;
        let failures = log["entries"]
            .as_array()
            .ok_or("entries")?
            .iter()
            .filter(|e| e["outcome"] == "failure")
            .count();
        assert_eq!(failures, 3);

        // The control plane's own metrics count it, and export every
        // control-plane metric the shipped alert rules and dashboard name.
        let metrics = api
            .http
            .get(format!("{}/metrics", api.base))
            .send()
            .await?
            .text()
            .await?;
        let failed = metrics
            .lines()
            .find(|l| l.starts_with("wrnexus_control_plane_signins_total{outcome=\"failure\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(failed >= 3.0, "{metrics}");
        assert!(metrics.contains("wrnexus_control_plane_api_requests_total{"));
        let rules = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/prometheus/alerts.yml"
        ))? + &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/grafana/wrnexus.json"
        ))?;
        let names: std::collections::BTreeSet<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("wrnexus_control_plane_"))
            .collect();
        assert!(names.len() >= 6, "{names:?}");
        for name in names {
            // A histogram's series are named after its family.
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                metrics.contains(&format!("# TYPE {family} ")),
                "`{name}` is not exported"
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn signing_out_everywhere_and_disabling_a_user() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let laptop = api.sign_in("ann@example.com").await?;
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{}/api-keys", ann.personal),
                &ann.token,
                Some(json!({"name": "ci"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let key = b["secret"].as_str().ok_or("secret")?.to_string();
        let members = format!("/workspaces/{}/members", ann.personal);
        for bearer in [&ann.token, &laptop, &key] {
            assert_eq!(
                api.call(Method::GET, &members, bearer, None).await?.0,
                StatusCode::OK
            );
        }

        // Sign out everywhere from the laptop: both sessions end, and so
        // does the key she created.
        let r = api
            .http
            .post(format!("{}/.wrnexus/signout?everywhere=true", api.base))
            .bearer_auth(&laptop)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        for bearer in [&ann.token, &laptop, &key] {
            assert_eq!(
                api.call(Method::GET, &members, bearer, None).await?.0,
                StatusCode::UNAUTHORIZED
            );
        }

        // An operator disables her: no sign-in, and a key she created is revoked.
        let fresh = api.sign_in("ann@example.com").await?;
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{}/api-keys", ann.personal),
                &fresh,
                Some(json!({"name": "ci again"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let key = b["secret"].as_str().ok_or("secret")?.to_string();
        let disable = |token: &'static str| {
            api.http
                .post(format!("{}/v1/operator/users/{}/disable", api.base, ann.id))
                .bearer_auth(token)
                .send()
        };
        assert_eq!(disable("wrong").await?.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            disable(common::http::OPERATOR_TOKEN).await?.status(),
            StatusCode::OK
        );
        for bearer in [&fresh, &key] {
            assert_eq!(
                api.call(Method::GET, &members, bearer, None).await?.0,
                StatusCode::UNAUTHORIZED
            );
        }
        let r = api
            .http
            .post(format!("{}/.wrnexus/signin", api.base))
            .json(&json!({ "email": "ann@example.com", "password": "correct horse battery" }))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = api
            .http
            .post(format!("{}/v1/operator/users/nobody/disable", api.base))
            .bearer_auth(common::http::OPERATOR_TOKEN)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        Ok(())
    })
    .await
}

/// The workspace's audit rows of `action`.
async fn audit_rows(
    api: &common::http::Api,
    token: &str,
    workspace: &str,
    action: &str,
) -> TestResult<Vec<Value>> {
    let (s, log) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/audit?action={action}"),
            token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{log}");
    Ok(log["entries"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn sign_in_switch_and_sign_out_are_audited_with_their_request() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let (s, b) = api
            .call(
                Method::POST,
                "/workspaces",
                &ann.token,
                Some(json!({"name": "Acme"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let team = b["workspace"]["id"].as_str().ok_or("id")?.to_string();
        let post = |path: &str, request_id: &str| {
            api.http
                .post(format!("{}/.wrnexus/{path}", api.base))
                .header("x-request-id", request_id)
                .header("user-agent", "integrity-check/1.0")
                .header("x-forwarded-for", "203.0.113.7")
        };

        let res = post("signin", "req-signin")
            .json(&json!({ "email": "ann@example.com", "password": "correct horse battery" }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        let token = common::http::session_token(&res)?;
        let body: Value = res.json().await?;
        let session = body["session"]["id"].as_str().ok_or("session")?.to_string();
        assert_eq!(body["workspace"]["id"], ann.personal.as_str(), "{body}");
        let signins = audit_rows(&api, &ann.token, &ann.personal, "signin").await?;
        let row = signins
            .iter()
            .find(|e| e["request_id"] == "req-signin")
            .ok_or("no sign-in row")?;
        assert_eq!(
            (
                &row["outcome"],
                &row["actor_kind"],
                &row["actor_id"],
                &row["ip"],
                &row["user_agent"],
                &row["detail"]["session_id"],
            ),
            (
                &json!("success"),
                &json!("user"),
                &json!(ann.id),
                &json!("203.0.113.7"),
                &json!("integrity-check/1.0"),
                &json!(session),
            ),
            "{row}"
        );

        let res = post("switch", "req-switch")
            .bearer_auth(&token)
            .json(&json!({ "workspace_id": team }))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        let token = common::http::session_token(&res)?;
        let switched = audit_rows(&api, &ann.token, &team, "session.switched").await?;
        assert_eq!(switched.len(), 1, "{switched:?}");
        assert_eq!(
            (
                &switched[0]["request_id"],
                &switched[0]["actor_id"],
                &switched[0]["target"],
                &switched[0]["detail"]["from"],
                &switched[0]["detail"]["session_id"],
            ),
            (
                &json!("req-switch"),
                &json!(ann.id),
                &json!(ann.id),
                &json!(ann.personal),
                &json!(session),
            )
        );

        let res = post("signout", "req-signout")
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        // Filed where the session was: the team workspace.
        let ended = audit_rows(&api, &ann.token, &team, "session.signed_out").await?;
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(
            (
                &ended[0]["request_id"],
                &ended[0]["actor_id"],
                &ended[0]["ip"],
                &ended[0]["detail"]["session_id"],
            ),
            (
                &json!("req-signout"),
                &json!(ann.id),
                &json!("203.0.113.7"),
                &json!(session),
            )
        );
        assert_eq!(
            api.call(Method::GET, "/workspaces", &token, None).await?.0,
            StatusCode::UNAUTHORIZED
        );
        Ok(())
    })
    .await
}
