//! Owners are protected, on SQLite and Postgres: any change to an owner's
//! membership (role, project limits, removal) needs an owner, so an admin,
//! by session or by key, is refused with `owner_required` and a decision id
//! and nothing is written; and no owner is ever limited to projects.

mod common;

use common::TestResult;
use common::http::{Api, on_both};
use common::team::{code, header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Create a project in `workspace`: its id.
async fn project(api: &Api, workspace: &str, token: &str, name: &str) -> TestResult<String> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/projects"),
            token,
            Some(json!({ "name": name })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok(b["project"]["id"].as_str().ok_or("project id")?.to_string())
}

/// The listed membership of `user_id`.
async fn member(api: &Api, workspace: &str, token: &str, user_id: &str) -> TestResult<Value> {
    let members = api.list(workspace, "members", token).await?;
    Ok(members
        .into_iter()
        .find(|m| m["user_id"] == user_id)
        .ok_or(format!("{user_id} is not listed"))?)
}

/// A snapshot without the `api.denied` rows that refusals add.
async fn state_of(api: &Api, workspace: &str, owner: &str) -> TestResult<Value> {
    let mut snapshot = api.snapshot(workspace, owner).await?;
    snapshot["audit"]
        .as_array_mut()
        .ok_or("audit")?
        .retain(|r| r["action"] != "api.denied");
    Ok(snapshot)
}

#[tokio::test]
async fn an_admin_cannot_touch_an_owners_membership_and_nothing_is_written() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let dan = api.sign_up("dan@example.com").await?;
        let cat = api.sign_up("cat@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &dan, "owner").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        api.join(&acme, &ann.token, &cat, "member").await?;
        let web = project(&api, &acme, &ann.token, "web").await?;
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/api-keys"),
                &bob.token,
                Some(json!({ "name": "bob's admin key", "role_ceiling": "admin" })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let bobs_key = b["secret"].as_str().ok_or("secret")?.to_string();
        // Used once now, so that its `last_used_at` stays put below.
        api.list(&acme, "members", &bobs_key).await?;

        // The admin may limit a plain member: the rule is about owners only.
        let cat_path = format!("/workspaces/{acme}/members/{}", cat.id);
        let (s, b) = api
            .call(
                Method::PATCH,
                &cat_path,
                &bob.token,
                Some(json!({ "projects": [web] })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");

        let before = state_of(&api, &acme, &ann.token).await?;
        let dan_path = format!("/workspaces/{acme}/members/{}", dan.id);
        let attempts = [
            (Method::PATCH, Some(json!({ "projects": [web] }))),
            (Method::PATCH, Some(json!({ "projects": null }))),
            (Method::PATCH, Some(json!({ "role": "admin" }))),
            (Method::PATCH, Some(json!({ "role": "owner" }))),
            (
                Method::PATCH,
                Some(json!({ "role": "admin", "projects": [web] })),
            ),
            (Method::DELETE, None),
        ];
        let mut decisions = Vec::new();
        for bearer in [&bob.token, &bobs_key] {
            for (method, body) in &attempts {
                let label = format!("{method} {body:?}");
                let res = api
                    .send(method.clone(), &dan_path, bearer, body.clone())
                    .await?;
                let status = res.status();
                let decision = header(&res, "x-wrnexus-decision-id");
                let b: Value = res.json().await?;
                assert_eq!(
                    (status, code(&b)),
                    (StatusCode::FORBIDDEN, "owner_required"),
                    "{label}: {b}"
                );
                assert_eq!(
                    b["type"],
                    json!("/.wrnexus/problems/owner_required"),
                    "{label}"
                );
                let id = b["decision_id"].as_str().ok_or(format!("{label}: no id"))?;
                assert_eq!(decision.as_deref(), Some(id), "{label}");
                assert!(
                    b["detail"].as_str().unwrap_or_default().contains(id),
                    "{label}: {b}"
                );
                decisions.push(id.to_string());
            }
        }

        // Each refusal is audited with its decision; nothing else changed.
        let denied = api.audit(&acme, &ann.token, "action=api.denied").await?;
        for id in &decisions {
            let row = denied
                .iter()
                .find(|r| r["detail"]["decision_id"] == id.as_str())
                .ok_or(format!("no audit row for decision {id}"))?;
            assert_eq!(
                (&row["outcome"], &row["detail"]["rule"]),
                (&json!("denied"), &json!("owner_only"))
            );
        }
        assert_eq!(state_of(&api, &acme, &ann.token).await?, before);
        let dans = member(&api, &acme, &ann.token, &dan.id).await?;
        assert_eq!(
            (&dans["role"], dans.get("projects")),
            (&json!("owner"), None),
            "{dans}"
        );

        // An owner may change another owner's membership.
        let (s, b) = api
            .call(
                Method::PATCH,
                &dan_path,
                &ann.token,
                Some(json!({ "role": "admin" })),
            )
            .await?;
        assert_eq!((s, &b["member"]["role"]), (StatusCode::OK, &json!("admin")));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn no_owner_is_ever_limited_to_projects() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let cat = api.sign_up("cat@example.com").await?;
        let dan = api.sign_up("dan@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "owner").await?;
        api.join(&acme, &ann.token, &cat, "member").await?;
        api.join(&acme, &ann.token, &dan, "member").await?;
        let web = project(&api, &acme, &ann.token, "web").await?;
        let path = |id: &str| format!("/workspaces/{acme}/members/{id}");

        // Even an owner cannot limit an owner, nor make a limited owner.
        let before = state_of(&api, &acme, &ann.token).await?;
        for (who, body) in [
            (&bob.id, json!({ "projects": [web] })),
            (&cat.id, json!({ "role": "owner", "projects": [web] })),
        ] {
            let (s, b) = api
                .call(Method::PATCH, &path(who), &ann.token, Some(body.clone()))
                .await?;
            common::team::assert_bad_input(
                &body.to_string(),
                s,
                &b,
                "owner_not_limitable",
                "projects",
            );
        }
        assert_eq!(state_of(&api, &acme, &ann.token).await?, before);

        // A limited member made owner, by promotion or by hand-over, keeps
        // no limits: an owner has every project.
        for user in [&cat, &dan] {
            let (s, b) = api
                .call(
                    Method::PATCH,
                    &path(&user.id),
                    &ann.token,
                    Some(json!({ "projects": [web] })),
                )
                .await?;
            assert_eq!(
                (s, &b["member"]["projects"]),
                (StatusCode::OK, &json!([web]))
            );
        }
        let (s, b) = api
            .call(
                Method::PATCH,
                &path(&cat.id),
                &ann.token,
                Some(json!({ "role": "owner" })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            (&b["member"]["role"], b["member"].get("projects")),
            (&json!("owner"), None),
            "{b}"
        );
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/transfer"),
                &ann.token,
                Some(json!({ "user_id": dan.id })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        let dans = member(&api, &acme, &ann.token, &dan.id).await?;
        assert_eq!(
            (&dans["role"], dans.get("projects")),
            (&json!("owner"), None),
            "{dans}"
        );
        // Both lifts are on the record.
        let lifted = api
            .audit(&acme, &ann.token, "action=member.projects_changed")
            .await?;
        for user in [&cat, &dan] {
            assert!(
                lifted
                    .iter()
                    .any(|r| r["target"] == user.id.as_str() && r["detail"]["to"].is_null()),
                "{}: {lifted:?}",
                user.email
            );
        }
        // And the new owners act outside the project, as owners do.
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/projects"),
                &dan.token,
                Some(json!({ "name": "api" })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        Ok(())
    })
    .await
}
