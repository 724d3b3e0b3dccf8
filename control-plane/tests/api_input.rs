//! Bad input to the tenancy API on SQLite and Postgres: a `400`
//! problem+json with a stable code and a sentence naming the field, and
//! nothing written; and the rate limit on accepting invitations.

mod common;

use common::TestResult;
use common::http::{on_both, on_both_with};
use common::team::{assert_bad_input, code, header, now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_writes_nothing() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "member").await?;
        let ws = |rest: &str| format!("/workspaces/{acme}{rest}");
        let bob_path = ws(&format!("/members/{}", bob.id));
        let hook = "https://hooks.example.com/in";
        let before = api.snapshot(&acme, &ann.token).await?;

        let post = Method::POST;
        let get = Method::GET;
        let cases: Vec<(Method, String, Option<Value>, &str, &str)> = vec![
            // Invitations.
            (
                post.clone(),
                ws("/invitations"),
                Some(json!({ "role": "member" })),
                "missing_field",
                "email",
            ),
            (
                post.clone(),
                ws("/invitations"),
                Some(json!({ "email": "not-an-email" })),
                "invalid_email",
                "email",
            ),
            (
                post.clone(),
                ws("/invitations"),
                Some(json!({ "email": "dan@example" })),
                "invalid_email",
                "email",
            ),
            (
                post.clone(),
                ws("/invitations"),
                Some(json!({ "email": "dan@example.com", "role": "superuser" })),
                "invalid_role",
                "role",
            ),
            (
                post.clone(),
                ws("/invitations"),
                Some(json!({ "email": ["dan@example.com"] })),
                "invalid_body",
                "email",
            ),
            // A value of the wrong JSON type is reported against its field.
            (
                post.clone(),
                "/workspaces".to_string(),
                Some(json!({ "name": 42 })),
                "invalid_body",
                "name",
            ),
            (
                Method::PATCH,
                bob_path.clone(),
                Some(json!({ "role": 5 })),
                "invalid_body",
                "role",
            ),
            // Members.
            (
                Method::PATCH,
                bob_path.clone(),
                Some(json!({ "role": "god" })),
                "invalid_role",
                "role",
            ),
            (
                Method::PATCH,
                bob_path.clone(),
                Some(json!({})),
                "missing_field",
                "role",
            ),
            // API keys.
            (
                post.clone(),
                ws("/api-keys"),
                Some(json!({ "name": { "text": "ci" } })),
                "invalid_body",
                "name",
            ),
            (
                post.clone(),
                ws("/api-keys"),
                Some(json!({ "role_ceiling": "viewer" })),
                "missing_field",
                "name",
            ),
            (
                post.clone(),
                ws("/api-keys"),
                Some(json!({ "name": "ci", "role_ceiling": "root" })),
                "invalid_role",
                "role_ceiling",
            ),
            (
                post.clone(),
                ws("/api-keys"),
                Some(json!({ "name": "ci", "expires_at": now() - 60 })),
                "invalid_expiry",
                "expires_at",
            ),
            (
                post.clone(),
                ws("/api-keys"),
                Some(json!({ "name": "ci", "expires_at": "next tuesday" })),
                "invalid_expiry",
                "expires_at",
            ),
            (
                post.clone(),
                ws("/api-keys"),
                Some(json!({ "name": "ci", "expires_at": { "days": 3 } })),
                "invalid_expiry",
                "expires_at",
            ),
            // Transfer.
            (
                post.clone(),
                ws("/transfer"),
                Some(json!({})),
                "missing_field",
                "user_id",
            ),
            (
                post.clone(),
                ws("/transfer"),
                Some(json!({ "user_id": "usr_nobody" })),
                "not_a_member",
                "user_id",
            ),
            (
                post.clone(),
                ws("/transfer"),
                Some(json!({ "user_id": ann.id })),
                "same_user",
                "user_id",
            ),
            // Audit.
            (
                get.clone(),
                ws("/audit?cursor=abc"),
                None,
                "invalid_cursor",
                "cursor",
            ),
            (
                get.clone(),
                ws("/audit?limit=0"),
                None,
                "invalid_limit",
                "limit",
            ),
            (
                get.clone(),
                ws("/audit?limit=501"),
                None,
                "invalid_limit",
                "limit",
            ),
            (
                get.clone(),
                ws("/audit?limit=ten"),
                None,
                "invalid_limit",
                "limit",
            ),
            (
                get.clone(),
                ws("/audit?since=yesterday"),
                None,
                "invalid_time",
                "since",
            ),
            (
                get.clone(),
                ws("/audit?until=2026-13-45"),
                None,
                "invalid_time",
                "until",
            ),
            (
                get.clone(),
                ws("/audit/export?limit=ten"),
                None,
                "invalid_limit",
                "limit",
            ),
            (
                get.clone(),
                ws("/audit/export?cursor=abc"),
                None,
                "invalid_cursor",
                "cursor",
            ),
            // Webhooks.
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "event_types": ["*"] })),
                "missing_field",
                "url",
            ),
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "url": "ftp://hooks.example.com/in", "event_types": ["*"] })),
                "invalid_url",
                "url",
            ),
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "url": "hooks.example.com/in", "event_types": ["*"] })),
                "invalid_url",
                "url",
            ),
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "url": hook })),
                "missing_field",
                "event_types",
            ),
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "url": hook, "event_types": ["member.exploded"] })),
                "invalid_event_types",
                "event_types",
            ),
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "url": hook, "event_types": [] })),
                "invalid_event_types",
                "event_types",
            ),
            (
                post.clone(),
                ws("/webhooks"),
                Some(json!({ "url": hook, "event_types": [7] })),
                "invalid_event_types",
                "event_types",
            ),
            (
                get.clone(),
                ws("/webhooks/deliveries?limit=0"),
                None,
                "invalid_limit",
                "limit",
            ),
            (
                get.clone(),
                ws("/webhooks/deliveries?limit=201"),
                None,
                "invalid_limit",
                "limit",
            ),
            (
                get.clone(),
                ws("/webhooks/deliveries?limit=many"),
                None,
                "invalid_limit",
                "limit",
            ),
        ];
        for (method, path, body, want, field) in cases {
            let what = format!("{method} {path} {body:?}");
            let res = api.send(method, &path, &ann.token, body).await?;
            let status = res.status();
            let content_type = header(&res, "content-type").unwrap_or_default();
            let text = res.text().await?;
            assert_eq!(content_type, "application/problem+json", "{what}: {text}");
            let problem: Value = serde_json::from_str(&text)?;
            assert_bad_input(&what, status, &problem, want, field);
        }
        assert_eq!(before, api.snapshot(&acme, &ann.token).await?);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn accepting_invitations_is_rate_limited_per_person() -> TestResult {
    on_both_with(
        |c| c.rate_limits.accept_per_minute = 3,
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let bob = api.sign_up("bob@example.com").await?;
            let cat = api.sign_up("cat@example.com").await?;
            let acme = api.team(&ann, "Acme").await?;
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{acme}/invitations"),
                    &ann.token,
                    Some(json!({ "email": bob.email })),
                )
                .await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            let token = b["token"].as_str().ok_or("token")?.to_string();

            // Guessing tokens: refused as unknown, then slowed down.
            for n in 0..3 {
                let (s, b) = api
                    .call(
                        Method::POST,
                        &format!("/invitations/guess{n}/accept"),
                        &bob.token,
                        None,
                    )
                    .await?;
                assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{b}");
            }
            for path in [
                "/invitations/guess9/accept".to_string(),
                format!("/invitations/{token}/accept"),
            ] {
                let res = api.send(Method::POST, &path, &bob.token, None).await?;
                assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
                let wait: u64 = header(&res, "retry-after")
                    .and_then(|v| v.parse().ok())
                    .ok_or("no Retry-After in seconds")?;
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                let b: Value = res.json().await?;
                assert_eq!(code(&b), "rate_limited", "{b}");
                assert!(
                    b["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("invitation"),
                    "{b}"
                );
            }
            // Even a real token waits: bob has not joined.
            let members = api.list(&acme, "members", &ann.token).await?;
            assert!(
                members.iter().all(|m| m["user_id"] != bob.id.as_str()),
                "{members:?}"
            );

            // The limit is bob's own: another person still gets in.
            api.join(&acme, &ann.token, &cat, "viewer").await?;
            Ok(())
        },
    )
    .await
}
