//! Workspaces over HTTP on SQLite and Postgres: listing mine, reading,
//! renaming, handing over ownership, leaving, and the owner-only rules,
//! whose refusals carry a decision id and are audited like policy denials.

mod common;

use common::TestResult;
use common::http::{Api, User, on_both};
use common::team::{code, header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `user`'s workspaces, as `GET /workspaces` lists them.
async fn mine(api: &Api, user: &User) -> TestResult<Value> {
    let (s, b) = api
        .call(Method::GET, "/workspaces", &user.token, None)
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b)
}

/// The entry for `id` in a `/workspaces` listing.
fn entry<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["workspaces"]
        .as_array()?
        .iter()
        .find(|w| w["id"] == id)
}

#[tokio::test]
async fn my_workspaces_are_listed_read_renamed_and_handed_over() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let here = format!("/workspaces/{acme}");
        api.join(&acme, &ann.token, &bob, "member").await?;

        // Each person lists their own workspaces, with role, status and plan.
        let anns = mine(&api, &ann).await?;
        assert_eq!(
            anns["workspaces"].as_array().map(Vec::len),
            Some(2),
            "{anns}"
        );
        let team = entry(&anns, &acme).ok_or("acme missing")?;
        assert_eq!(
            (
                &team["name"],
                &team["kind"],
                &team["role"],
                &team["status"],
                &team["plan"]
            ),
            (
                &json!("Acme"),
                &json!("team"),
                &json!("owner"),
                &json!("active"),
                &json!("free")
            )
        );
        let personal = entry(&anns, &ann.personal).ok_or("personal missing")?;
        assert_eq!(
            (&personal["kind"], &personal["role"]),
            (&json!("personal"), &json!("owner"))
        );
        let bobs = mine(&api, &bob).await?;
        assert_eq!(
            entry(&bobs, &acme).map(|w| &w["role"]),
            Some(&json!("member"))
        );
        assert!(entry(&bobs, &ann.personal).is_none(), "{bobs}");

        // Reading one: the workspace and the reader's role in it.
        let (s, one) = api.call(Method::GET, &here, &bob.token, None).await?;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (
                &one["workspace"]["id"],
                &one["workspace"]["name"],
                &one["role"]
            ),
            (&json!(acme), &json!("Acme"), &json!("member"))
        );

        // Renaming: the answer, every member's list and the audit log show it.
        let (s, renamed) = api
            .call(
                Method::PATCH,
                &here,
                &ann.token,
                Some(json!({ "name": "  Acme Corp " })),
            )
            .await?;
        assert_eq!(
            (s, &renamed["workspace"]["name"]),
            (StatusCode::OK, &json!("Acme Corp"))
        );
        let bobs = mine(&api, &bob).await?;
        assert_eq!(
            entry(&bobs, &acme).map(|w| &w["name"]),
            Some(&json!("Acme Corp"))
        );
        let row = api.only_row(&acme, &ann.token, "workspace.renamed").await?;
        assert_eq!(
            (&row["actor_id"], &row["target"], &row["outcome"]),
            (&json!(ann.id), &json!(acme), &json!("success"))
        );

        // Handing over: bob becomes the owner, ann stays as an admin.
        let (s, moved) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/transfer"),
                &ann.token,
                Some(json!({ "user_id": bob.id })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{moved}");
        assert_eq!(
            (&moved["owner"], &moved["previous_owner_role"]),
            (&json!(bob.id), &json!("admin"))
        );
        let members = api.list(&acme, "members", &bob.token).await?;
        let role_of = |id: &str| {
            members
                .iter()
                .find(|m| m["user_id"] == id)
                .map(|m| m["role"].clone())
        };
        assert_eq!(role_of(&bob.id), Some(json!("owner")));
        assert_eq!(role_of(&ann.id), Some(json!("admin")));
        let anns = mine(&api, &ann).await?;
        assert_eq!(
            entry(&anns, &acme).map(|w| &w["role"]),
            Some(&json!("admin"))
        );
        let row = api
            .only_row(&acme, &bob.token, "workspace.ownership_transferred")
            .await?;
        assert_eq!(
            (&row["actor_id"], &row["target"]),
            (&json!(ann.id), &json!(bob.id))
        );

        // The new owner may now do what only owners do; the old one may not.
        let (s, b) = api.call(Method::DELETE, &here, &ann.token, None).await?;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "owner_required"));
        let (s, _) = api.call(Method::DELETE, &here, &bob.token, None).await?;
        assert_eq!(s, StatusCode::NO_CONTENT);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_member_leaves_and_can_no_longer_read_the_workspace() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let here = format!("/workspaces/{acme}");
        api.join(&acme, &ann.token, &bob, "member").await?;

        let (s, b) = api
            .call(
                Method::DELETE,
                &format!("/workspaces/{acme}/members/{}", bob.id),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!(
            (s, b["left"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{b}"
        );

        let members = api.list(&acme, "members", &ann.token).await?;
        assert!(
            members.iter().all(|m| m["user_id"] != bob.id.as_str()),
            "{members:?}"
        );
        let row = api.only_row(&acme, &ann.token, "member.removed").await?;
        assert_eq!(
            (&row["actor_id"], &row["target"]),
            (&json!(bob.id), &json!(bob.id))
        );

        let (s, b) = api.call(Method::GET, &here, &bob.token, None).await?;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
        assert!(!b.to_string().contains("Acme"), "{b}");
        let bobs = mine(&api, &bob).await?;
        assert!(entry(&bobs, &acme).is_none(), "{bobs}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_admin_is_refused_what_only_owners_do_with_an_audited_decision() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let cat = api.sign_up("cat@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        api.join(&acme, &ann.token, &cat, "member").await?;
        let ws = |rest: &str| format!("/workspaces/{acme}{rest}");
        let before = api.snapshot(&acme, &ann.token).await?;

        let attempts = [
            (Method::DELETE, ws(""), None, "delete the workspace"),
            (
                Method::POST,
                ws("/transfer"),
                Some(json!({ "user_id": bob.id })),
                "transfer ownership",
            ),
            (
                Method::PATCH,
                ws(&format!("/members/{}", cat.id)),
                Some(json!({ "role": "owner" })),
                "grant or take away the owner role",
            ),
            (
                Method::PATCH,
                ws(&format!("/members/{}", ann.id)),
                Some(json!({ "role": "admin" })),
                "grant or take away the owner role",
            ),
            (
                Method::DELETE,
                ws(&format!("/members/{}", ann.id)),
                None,
                "remove an owner",
            ),
            (
                Method::POST,
                ws("/invitations"),
                Some(json!({ "email": "dan@example.com", "role": "owner" })),
                "invite an owner",
            ),
        ];
        let mut decisions = Vec::new();
        for (method, path, body, what) in attempts {
            let res = api.send(method.clone(), &path, &bob.token, body).await?;
            let status = res.status();
            let decision = header(&res, "x-wrnexus-decision-id");
            let b: Value = res.json().await?;
            let label = format!("{method} {path}");
            assert_eq!(
                (status, code(&b)),
                (StatusCode::FORBIDDEN, "owner_required"),
                "{label}: {b}"
            );
            let id = b["decision_id"]
                .as_str()
                .ok_or(format!("{label}: no decision id"))?;
            assert_eq!(decision.as_deref(), Some(id), "{label}");
            let detail = b["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(what) && detail.contains(id),
                "{label}: {detail}"
            );
            decisions.push((label, id.to_string()));
        }
        let ids: std::collections::HashSet<&String> = decisions.iter().map(|(_, id)| id).collect();
        assert_eq!(
            ids.len(),
            decisions.len(),
            "decision ids repeat: {decisions:?}"
        );

        // Each refusal is an `api.denied` row naming its decision and the rule.
        let denied = api.audit(&acme, &ann.token, "action=api.denied").await?;
        assert_eq!(denied.len(), decisions.len(), "{denied:?}");
        for (label, id) in &decisions {
            let row = denied
                .iter()
                .find(|r| r["detail"]["decision_id"] == id.as_str())
                .ok_or(format!("{label}: no audit row for decision {id}"))?;
            assert_eq!(
                (
                    &row["actor_id"],
                    &row["outcome"],
                    &row["detail"]["rule"],
                    &row["detail"]["action"]
                ),
                (
                    &json!(bob.id),
                    &json!("denied"),
                    &json!("owner_only"),
                    &json!("admin")
                ),
                "{label}"
            );
        }

        // Nothing else changed: the workspace, its members, no invitation.
        let mut after = api.snapshot(&acme, &ann.token).await?;
        let rows = after["audit"].as_array_mut().ok_or("audit")?;
        rows.retain(|r| r["action"] != "api.denied");
        assert_eq!(before, after);

        // A policy denial of the same admin is filed the same way.
        let (s, b) = api
            .call(
                Method::PATCH,
                &ws(""),
                &cat.token,
                Some(json!({ "name": "Mine" })),
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
        let id = b["decision_id"].as_str().ok_or("no decision id")?;
        let denied = api.audit(&acme, &ann.token, "action=api.denied").await?;
        let row = denied
            .iter()
            .find(|r| r["detail"]["decision_id"] == id)
            .ok_or("no audit row for the policy denial")?;
        assert_eq!(
            (&row["actor_id"], &row["outcome"]),
            (&json!(cat.id), &json!("denied"))
        );
        Ok(())
    })
    .await
}
