//! The tenancy API over HTTP, on SQLite and on Postgres (as the service
//! role, row-level security in force): every resource's happy path, its
//! refusals, cross-workspace attempts, API keys, the audit log, rate limits.

mod common;

use common::TestResult;
use common::http::on_both;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn team_members_projects_keys_and_audit() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let eve = api.sign_up("eve@example.com").await?;
        let post = Method::POST;
        let patch = Method::PATCH;

        // Workspaces are flat, and names are checked.
        let (s, b) = api
            .call(
                post.clone(),
                "/workspaces",
                &ann.token,
                Some(json!({"name": "Sub", "parent_id": ann.personal})),
            )
            .await?;
        assert_eq!(
            (s, code(&b), b["field"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                "workspaces_are_flat",
                Some("parent_id")
            )
        );
        let (s, b) = api
            .call(
                post.clone(),
                "/workspaces",
                &ann.token,
                Some(json!({"name": "  "})),
            )
            .await?;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("name"))
        );
        let (s, b) = api
            .call(
                post.clone(),
                "/workspaces",
                &ann.token,
                Some(json!({"name": "Acme"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let acme = b["workspace"]["id"].as_str().ok_or("id")?.to_string();
        let ws = |rest: &str| format!("/workspaces/{acme}{rest}");

        // Invite bob; accepting makes him a member; inviting him again is a conflict.
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/invitations"),
                &ann.token,
                Some(json!({"email": "bob@example.com", "role": "member"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let invite = b["token"].as_str().ok_or("token")?.to_string();
        let (s, _) = api
            .call(
                post.clone(),
                &format!("/invitations/{invite}/accept"),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK);
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/invitations"),
                &ann.token,
                Some(json!({"email": "bob@example.com"})),
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "already_member"));

        // Two owners each step down at once. Each is allowed to (an owner
        // changing their own role), so both requests reach the store and only
        // its last-owner guard can tell them apart: exactly one is refused.
        let (s, _) = api
            .call(
                patch.clone(),
                &ws(&format!("/members/{}", bob.id)),
                &ann.token,
                Some(json!({"role": "owner"})),
            )
            .await?;
        assert_eq!(s, StatusCode::OK);
        let (bob_path, ann_path) = (
            ws(&format!("/members/{}", bob.id)),
            ws(&format!("/members/{}", ann.id)),
        );
        let (a, b) = tokio::join!(
            api.call(
                patch.clone(),
                &ann_path,
                &ann.token,
                Some(json!({"role": "admin"}))
            ),
            api.call(
                patch.clone(),
                &bob_path,
                &bob.token,
                Some(json!({"role": "admin"}))
            ),
        );
        let (a, b) = (a?, b?);
        let mut outcomes = [(a.0, code(&a.1)), (b.0, code(&b.1))];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [(StatusCode::OK, ""), (StatusCode::CONFLICT, "last_owner")],
            "{a:?} {b:?}"
        );
        let (_, members) = api
            .call(Method::GET, &ws("/members"), &ann.token, None)
            .await?;
        let owners: Vec<&Value> = members["members"]
            .as_array()
            .ok_or("members")?
            .iter()
            .filter(|m| m["role"] == "owner")
            .collect();
        assert_eq!(owners.len(), 1, "{members}");
        let owner = if owners[0]["user_id"] == ann.id.as_str() {
            &ann
        } else {
            &bob
        };
        let other = if owner.id == ann.id { &bob } else { &ann };
        // The last owner cannot leave.
        let (s, b) = api
            .call(
                Method::DELETE,
                &ws(&format!("/members/{}", owner.id)),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "last_owner"));

        // Projects: create, duplicate, rename, archive, and a bad name writes nothing.
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/projects"),
                &owner.token,
                Some(json!({"name": "web"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let web = b["project"]["id"].as_str().ok_or("project id")?.to_string();
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/projects"),
                &owner.token,
                Some(json!({"name": "web"})),
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "project_name_taken"));
        let (_, before) = api
            .call(Method::GET, &ws("/audit?limit=500"), &owner.token, None)
            .await?;
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/projects"),
                &owner.token,
                Some(json!({"name": "x".repeat(101)})),
            )
            .await?;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("name"))
        );
        let (_, after) = api
            .call(Method::GET, &ws("/audit?limit=500"), &owner.token, None)
            .await?;
        assert_eq!(
            before["entries"], after["entries"],
            "a refused write left a trace"
        );
        let (s, b) = api
            .call(
                patch.clone(),
                &ws(&format!("/projects/{web}")),
                &owner.token,
                Some(json!({"name": "website", "archived": true})),
            )
            .await?;
        assert_eq!(
            (
                s,
                b["project"]["name"].as_str(),
                b["project"]["archived"].as_bool()
            ),
            (StatusCode::OK, Some("website"), Some(true))
        );

        // Limit the other member to that project: they see only it and may
        // not change the workspace itself.
        let (s, b) = api
            .call(
                patch.clone(),
                &ws(&format!("/members/{}", other.id)),
                &owner.token,
                Some(json!({"projects": [web]})),
            )
            .await?;
        assert_eq!(
            (s, b["member"]["projects"].clone()),
            (StatusCode::OK, json!([web]))
        );
        let (s, b) = api
            .call(
                patch.clone(),
                &ws(&format!("/members/{}", other.id)),
                &owner.token,
                Some(json!({"projects": ["nope"]})),
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "unknown_project"));
        let (s, b) = api
            .call(
                patch.clone(),
                &ws(""),
                &other.token,
                Some(json!({"name": "Mine"})),
            )
            .await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "project_not_granted")
        );
        assert!(b["decision_id"].is_string());

        // An outsider learns nothing about any resource of the workspace.
        for path in [
            "",
            "/members",
            "/projects",
            "/api-keys",
            "/audit",
            "/webhooks",
        ] {
            let (s, b) = api.call(Method::GET, &ws(path), &eve.token, None).await?;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
            assert!(!b.to_string().contains("Acme"), "{path}: {b}");
        }
        let (s, _) = api
            .call(
                patch.clone(),
                &ws(&format!("/projects/{web}")),
                &eve.token,
                Some(json!({"name": "mine"})),
            )
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Nor through a project id of this workspace in their own.
        let (s, _) = api
            .call(
                patch.clone(),
                &format!("/workspaces/{}/projects/{web}", eve.personal),
                &eve.token,
                Some(json!({"name": "mine"})),
            )
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // API keys: the secret once, a ceiling, its own workspace only, revocable.
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/api-keys"),
                &owner.token,
                Some(json!({"name": "ci", "role_ceiling": "viewer"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED);
        let secret = b["secret"].as_str().ok_or("secret")?.to_string();
        let key_id = b["api_key"]["id"].as_str().ok_or("key id")?.to_string();
        assert!(secret.starts_with(&format!("wrn_{key_id}_")));
        let (_, listed) = api
            .call(Method::GET, &ws("/api-keys"), &owner.token, None)
            .await?;
        assert!(
            !listed.to_string().contains(&secret[20..]),
            "a listing shows the secret"
        );
        let (s, b) = api
            .call(Method::GET, &ws("/members"), &secret, None)
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = api
            .call(
                post.clone(),
                &ws("/projects"),
                &secret,
                Some(json!({"name": "api"})),
            )
            .await?;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        for other_ws in [&eve.personal, &owner.personal] {
            let (s, b) = api
                .call(
                    Method::GET,
                    &format!("/workspaces/{other_ws}/members"),
                    &secret,
                    None,
                )
                .await?;
            assert_eq!(
                (s, code(&b)),
                (StatusCode::FORBIDDEN, "api_key_wrong_workspace")
            );
            assert!(b.get("members").is_none());
        }
        let (s, _) = api
            .call(
                Method::DELETE,
                &format!("/workspaces/{}/api-keys/{key_id}", eve.personal),
                &eve.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "another workspace's key");
        let (s, _) = api
            .call(
                Method::DELETE,
                &ws(&format!("/api-keys/{key_id}")),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, b) = api
            .call(Method::GET, &ws("/members"), &secret, None)
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_api_key"));

        // The audit log: the changes above, filters, a cursor, NDJSON export.
        let (s, log) = api
            .call(Method::GET, &ws("/audit?limit=500"), &owner.token, None)
            .await?;
        assert_eq!(s, StatusCode::OK);
        let entries = log["entries"].as_array().ok_or("entries")?;
        let actions: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for expected in [
            "workspace.created",
            "invitation.created",
            "member.added",
            "member.role_changed",
            "project.created",
            "project.updated",
            "member.projects_changed",
            "api.denied",
            "api_key.created",
            "api_key.revoked",
            "api_key.used",
        ] {
            assert!(
                actions.contains(&expected),
                "{expected} missing from {actions:?}"
            );
        }
        assert!(entries.iter().all(|e| e["workspace_id"] == acme.as_str()));
        let used = entries
            .iter()
            .find(|e| e["action"] == "api_key.used")
            .ok_or("key use")?;
        assert_eq!(
            (used["outcome"].as_str(), used["detail"]["reason"].as_str()),
            (Some("failure"), Some("revoked"))
        );
        assert!(
            entries
                .iter()
                .all(|e| e["request_id"].is_string() && e["ip"] == "127.0.0.1")
        );
        let (_, only) = api
            .call(
                Method::GET,
                &ws("/audit?action=api_key.created"),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!(only["entries"].as_array().map(Vec::len), Some(1));
        let (_, page1) = api
            .call(Method::GET, &ws("/audit?limit=2"), &owner.token, None)
            .await?;
        let cursor = page1["next_cursor"].as_str().ok_or("cursor")?;
        let (_, page2) = api
            .call(
                Method::GET,
                &ws(&format!("/audit?limit=2&cursor={cursor}")),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!(page2["entries"][0]["id"], entries[2]["id"]);
        let (s, b) = api
            .call(
                Method::GET,
                &ws("/audit?since=yesterday"),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("since"))
        );
        let export = api
            .http
            .get(format!("{}/v1{}", api.base, ws("/audit/export")))
            .bearer_auth(&owner.token)
            .send()
            .await?;
        assert_eq!(export.headers()["content-type"], "application/x-ndjson");
        let text = export.text().await?;
        let lines: Vec<Value> = text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert!(lines.len() >= entries.len());
        // Eve's own log holds none of it.
        let (_, eves) = api
            .call(
                Method::GET,
                &format!("/workspaces/{}/audit", eve.personal),
                &eve.token,
                None,
            )
            .await?;
        assert!(!eves.to_string().contains(&acme));

        // Deleting: owners only; afterwards the workspace is gone for all.
        let (s, b) = api
            .call(Method::DELETE, &ws(""), &other.token, None)
            .await?;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        let (s, b) = api
            .call(
                Method::DELETE,
                &format!("/workspaces/{}", owner.personal),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "personal_workspace"));
        let (s, _) = api
            .call(Method::DELETE, &ws(""), &owner.token, None)
            .await?;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = api
            .call(Method::GET, &ws("/members"), &other.token, None)
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);
        Ok(())
    })
    .await
}
