//! The webhooks API over HTTP on SQLite and Postgres: creating an endpoint
//! (the secret shown once, JSON or form), listing, a test event in the
//! delivery log, deleting, and the audit rows of each.

mod common;

use common::TestResult;
use common::http::on_both;
use common::team::{code, ids};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn endpoints_are_created_listed_tested_and_deleted() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let ws = |rest: &str| format!("/workspaces/{acme}{rest}");

        let (s, b) = api
            .call(
                Method::POST,
                &ws("/webhooks"),
                &ann.token,
                Some(json!({
                    "url": "https://hooks.example.com/in",
                    "event_types": ["member.added", "member.added", "project.created"],
                    "description": "ops channel",
                })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let ops = b["webhook"]["id"]
            .as_str()
            .ok_or("endpoint id")?
            .to_string();
        let secret = b["webhook"]["secret"].as_str().ok_or("secret")?.to_string();
        assert!(secret.len() >= 16, "a weak secret: {secret}");
        assert_eq!(
            b["webhook"]["event_types"],
            json!(["member.added", "project.created"])
        );

        // A form: event types as a comma-separated list.
        let res = api
            .http
            .post(format!("{}/v1{}", api.base, ws("/webhooks")))
            .bearer_auth(&ann.token)
            .form(&[
                ("url", "http://audit.example.com/hook"),
                ("event_types", "webhook.test, api_key.created"),
            ])
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::CREATED);
        let b: Value = res.json().await?;
        let audit = b["webhook"]["id"]
            .as_str()
            .ok_or("form endpoint id")?
            .to_string();
        assert_eq!(
            b["webhook"]["event_types"],
            json!(["webhook.test", "api_key.created"])
        );

        // Listed oldest first, never with a secret.
        let listed = api.list(&acme, "webhooks", &ann.token).await?;
        assert_eq!(ids(&listed), [ops.clone(), audit.clone()]);
        assert_eq!(
            (&listed[0]["url"], &listed[0]["description"]),
            (
                &json!("https://hooks.example.com/in"),
                &json!("ops channel")
            )
        );
        assert!(
            listed.iter().all(|e| e.get("secret").is_none()),
            "{listed:?}"
        );
        assert!(!serde_json::to_string(&listed)?.contains(&secret));

        // A test event goes to that endpoint alone, whatever it subscribes to.
        let (s, b) = api
            .call(
                Method::POST,
                &ws(&format!("/webhooks/{ops}/test")),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let event = b["event_id"].as_str().ok_or("event id")?.to_string();
        let log = api.list(&acme, "deliveries", &ann.token).await?;
        let sent: Vec<&Value> = log
            .iter()
            .filter(|d| d["event_id"] == event.as_str())
            .collect();
        assert_eq!(sent.len(), 1, "{log:?}");
        assert_eq!(
            (
                &sent[0]["endpoint_id"],
                &sent[0]["event_type"],
                &sent[0]["status"],
                &sent[0]["attempts"]
            ),
            (
                &json!(ops),
                &json!("webhook.test"),
                &json!("pending"),
                &json!(0)
            )
        );
        let (s, b) = api
            .call(
                Method::GET,
                &ws("/webhooks/deliveries?limit=1"),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(
            (s, b["deliveries"].as_array().map(Vec::len)),
            (StatusCode::OK, Some(1))
        );

        // Deleting: gone from the list, its pending delivery stopped, no more tests.
        let (s, _) = api
            .call(
                Method::DELETE,
                &ws(&format!("/webhooks/{ops}")),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(
            ids(&api.list(&acme, "webhooks", &ann.token).await?),
            std::slice::from_ref(&audit)
        );
        let log = api.list(&acme, "deliveries", &ann.token).await?;
        let stopped = log
            .iter()
            .find(|d| d["event_id"] == event.as_str())
            .ok_or("delivery gone")?;
        assert_eq!(
            (&stopped["status"], &stopped["last_error"]),
            (&json!("dead"), &json!("endpoint deleted"))
        );
        for (method, path) in [
            (Method::POST, ws(&format!("/webhooks/{ops}/test"))),
            (Method::DELETE, ws(&format!("/webhooks/{ops}"))),
        ] {
            let (s, b) = api.call(method, &path, &ann.token, None).await?;
            assert_eq!(
                (s, code(&b)),
                (StatusCode::NOT_FOUND, "not_found"),
                "{path}"
            );
        }

        // Each change is in the audit log, by ann.
        for (action, target) in [
            ("webhook.created", &ops),
            ("webhook.created", &audit),
            ("webhook.tested", &ops),
            ("webhook.deleted", &ops),
        ] {
            let rows = api
                .audit(&acme, &ann.token, &format!("action={action}"))
                .await?;
            let row = rows
                .iter()
                .find(|r| r["target"] == target.as_str())
                .ok_or(format!("no {action} row for {target}"))?;
            assert_eq!(row["actor_id"], json!(ann.id), "{action}");
        }
        Ok(())
    })
    .await
}
