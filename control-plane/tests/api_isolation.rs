//! Workspace isolation over HTTP on SQLite and Postgres: a member of one
//! workspace who aims at another's members, invitations, projects, keys,
//! audit log or webhooks gets `404` with nothing of it, and writes nothing.

mod common;

use common::TestResult;
use common::http::on_both;
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_member_of_one_workspace_reaches_nothing_of_another() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let cat = api.sign_up("cat@example.com").await?;
        let alpha = api.team(&ann, "Alpha").await?;
        let beta = api.team(&bob, "Beta").await?;
        api.join(&beta, &bob.token, &cat, "member").await?;
        let b = |rest: &str| format!("/workspaces/{beta}{rest}");

        // Beta's resources, created by its owner.
        let (s, body) = api
            .call(
                Method::POST,
                &b("/projects"),
                &bob.token,
                Some(json!({ "name": "secret-project" })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let project = body["project"]["id"]
            .as_str()
            .ok_or("project id")?
            .to_string();
        let (s, body) = api
            .call(
                Method::POST,
                &b("/api-keys"),
                &bob.token,
                Some(json!({ "name": "beta-ci" })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let key = body["api_key"]["id"].as_str().ok_or("key id")?.to_string();
        let secret = body["secret"].as_str().ok_or("secret")?.to_string();
        let (s, body) = api
            .call(
                Method::POST,
                &b("/webhooks"),
                &bob.token,
                Some(json!({ "url": "https://beta.example.com/hook", "event_types": ["*"] })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let endpoint = body["webhook"]["id"]
            .as_str()
            .ok_or("endpoint id")?
            .to_string();
        let before = api.snapshot(&beta, &bob.token).await?;
        // What must never show in an answer to ann.
        let beta_things = [
            "Beta".to_string(),
            "secret-project".to_string(),
            "beta-ci".to_string(),
            "beta.example.com".to_string(),
            cat.id.clone(),
            project.clone(),
            key.clone(),
            endpoint.clone(),
        ];

        // Ann, an owner elsewhere, aims at Beta's paths.
        let cat_path = b(&format!("/members/{}", cat.id));
        let attempts = [
            (Method::GET, b(""), None),
            (Method::PATCH, b(""), Some(json!({ "name": "Mine" }))),
            (Method::DELETE, b(""), None),
            (
                Method::POST,
                b("/transfer"),
                Some(json!({ "user_id": ann.id })),
            ),
            (Method::GET, b("/members"), None),
            (
                Method::PATCH,
                cat_path.clone(),
                Some(json!({ "role": "admin" })),
            ),
            (Method::DELETE, cat_path, None),
            (
                Method::POST,
                b("/invitations"),
                Some(json!({ "email": "ann@example.com", "role": "admin" })),
            ),
            (
                Method::POST,
                b("/projects"),
                Some(json!({ "name": "mine" })),
            ),
            (
                Method::PATCH,
                b(&format!("/projects/{project}")),
                Some(json!({ "name": "mine" })),
            ),
            (
                Method::POST,
                b("/api-keys"),
                Some(json!({ "name": "mine" })),
            ),
            (Method::DELETE, b(&format!("/api-keys/{key}")), None),
            (Method::GET, b("/audit"), None),
            (Method::GET, b("/audit/export"), None),
            (
                Method::POST,
                b("/webhooks"),
                Some(json!({ "url": "https://ann.example.com/hook", "event_types": ["*"] })),
            ),
            (Method::DELETE, b(&format!("/webhooks/{endpoint}")), None),
            (Method::POST, b(&format!("/webhooks/{endpoint}/test")), None),
            (Method::GET, b("/webhooks/deliveries"), None),
            // Beta's ids under her own workspace's paths.
            (
                Method::PATCH,
                format!("/workspaces/{alpha}/members/{}", cat.id),
                Some(json!({ "role": "admin" })),
            ),
            (
                Method::DELETE,
                format!("/workspaces/{alpha}/members/{}", cat.id),
                None,
            ),
            (
                Method::PATCH,
                format!("/workspaces/{alpha}/projects/{project}"),
                Some(json!({ "archived": true })),
            ),
            (
                Method::DELETE,
                format!("/workspaces/{alpha}/api-keys/{key}"),
                None,
            ),
            (
                Method::DELETE,
                format!("/workspaces/{alpha}/webhooks/{endpoint}"),
                None,
            ),
            (
                Method::POST,
                format!("/workspaces/{alpha}/webhooks/{endpoint}/test"),
                None,
            ),
        ];
        for (method, path, body) in attempts {
            let res = api.send(method.clone(), &path, &ann.token, body).await?;
            let status = res.status();
            let text = res.text().await?;
            let label = format!("{method} {path}");
            assert_eq!(status, StatusCode::NOT_FOUND, "{label}: {text}");
            let problem: serde_json::Value = serde_json::from_str(&text)?;
            assert_eq!(code(&problem), "not_found", "{label}: {text}");
            for thing in &beta_things {
                assert!(
                    !text.contains(thing.as_str()),
                    "{label} shows `{thing}`: {text}"
                );
            }
        }

        // Beta is as it was, and its key and endpoint still work.
        assert_eq!(before, api.snapshot(&beta, &bob.token).await?);
        let (s, _) = api
            .call(Method::GET, &b("/projects"), &secret, None)
            .await?;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = api
            .call(
                Method::POST,
                &b(&format!("/webhooks/{endpoint}/test")),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::ACCEPTED);
        // Ann's own workspace gained nothing either: no rows about Beta's things.
        let alpha_log = serde_json::to_string(&api.audit(&alpha, &ann.token, "").await?)?;
        for thing in &beta_things {
            assert!(
                !alpha_log.contains(thing.as_str()),
                "alpha's log shows `{thing}`"
            );
        }
        Ok(())
    })
    .await
}
