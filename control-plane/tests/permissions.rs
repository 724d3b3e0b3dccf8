//! `GET /workspaces/{id}/permissions` on SQLite and Postgres: what each role
//! may do, as the handlers would decide it (owner-only rules included), an
//! API key bounded by its ceiling, a suspended workspace allowing fewer
//! changes, non-members told nothing, and asking never audited as a denial.

mod common;

use common::TestResult;
use common::http::{Api, OPERATOR_TOKEN, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every action the answer names.
const ACTIONS: [&str; 13] = [
    "read",
    "rename",
    "delete",
    "transfer",
    "manage_members",
    "invite",
    "view_keys",
    "manage_keys",
    "view_webhooks",
    "manage_webhooks",
    "manage_projects",
    "read_audit",
    "billing",
];

/// The caller's permissions in `workspace`: its role and the allowed actions.
async fn permissions(
    api: &Api,
    workspace: &str,
    bearer: &str,
) -> TestResult<(String, Vec<String>)> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/permissions"),
            bearer,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    let allowed = b["allowed"].as_object().ok_or("no `allowed`")?;
    for action in ACTIONS {
        assert!(
            allowed.get(action).is_some_and(Value::is_boolean),
            "{action} missing: {b}"
        );
    }
    let yes = ACTIONS
        .iter()
        .filter(|a| allowed[**a] == Value::Bool(true))
        .map(|a| a.to_string())
        .collect();
    Ok((b["role"].as_str().unwrap_or_default().to_string(), yes))
}

fn all_but(but: &[&str]) -> Vec<String> {
    ACTIONS
        .iter()
        .filter(|a| !but.contains(a))
        .map(|a| a.to_string())
        .collect()
}

#[tokio::test]
async fn each_role_is_told_what_it_may_do() -> TestResult {
    on_both(|api| async move {
        let owner = api.sign_up("owner@example.com").await?;
        let team = api.team(&owner, "Acme").await?;
        let mut people = Vec::new();
        for role in ["admin", "member", "viewer"] {
            let user = api.sign_up(&format!("{role}@example.com")).await?;
            api.join(&team, &owner.token, &user, role).await?;
            people.push((role, user));
        }

        assert_eq!(
            permissions(&api, &team, &owner.token).await?,
            ("owner".into(), all_but(&[]))
        );
        let (_, admin) = &people[0];
        assert_eq!(
            permissions(&api, &team, &admin.token).await?,
            ("admin".into(), all_but(&["delete", "transfer", "billing"]))
        );
        for (role, user) in &people[1..] {
            assert_eq!(
                permissions(&api, &team, &user.token).await?,
                (role.to_string(), vec!["read".to_string()])
            );
        }

        // What the answer allows, the API does; what it refuses, the API refuses.
        let (_, viewer) = &people[2];
        let (s, _) = api
            .call(
                Method::PATCH,
                &format!("/workspaces/{team}"),
                &viewer.token,
                Some(json!({"name": "x"})),
            )
            .await?;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = api
            .call(
                Method::PATCH,
                &format!("/workspaces/{team}"),
                &admin.token,
                Some(json!({"name": "Acme 2"})),
            )
            .await?;
        assert_eq!(s, StatusCode::OK);

        // A non-member learns nothing.
        let (s, b) = api
            .call(
                Method::GET,
                &format!("/workspaces/{}/permissions", owner.personal),
                &viewer.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

        // Asking is not trying: no denial was audited.
        let (s, b) = api
            .call(
                Method::GET,
                &format!("/workspaces/{team}/audit?action=api.denied"),
                &owner.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["entries"].as_array().map(Vec::len), Some(1), "{b}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn keys_are_bounded_and_suspension_narrows() -> TestResult {
    on_both(|api| async move {
        let owner = api.sign_up("owner@example.com").await?;
        let team = api.team(&owner, "Acme").await?;

        // An admin key manages, but never transfers (that is a person's act).
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{team}/api-keys"),
                &owner.token,
                Some(json!({"name": "ops", "role_ceiling": "admin"})),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let key = b["secret"].as_str().ok_or("secret")?.to_string();
        assert_eq!(
            permissions(&api, &team, &key).await?,
            ("admin".into(), all_but(&["delete", "transfer", "billing"]))
        );

        // Suspended: reading, billing and deleting stay; changes go.
        let res = api
            .http
            .post(format!(
                "{}/v1/operator/workspaces/{team}/suspend",
                api.base
            ))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await?;
        assert!(res.status().is_success(), "{}", res.status());
        let (_, allowed) = permissions(&api, &team, &owner.token).await?;
        for still in [
            "read",
            "delete",
            "billing",
            "view_keys",
            "view_webhooks",
            "read_audit",
        ] {
            assert!(allowed.contains(&still.to_string()), "{still}: {allowed:?}");
        }
        for gone in [
            "rename",
            "manage_members",
            "invite",
            "manage_keys",
            "manage_webhooks",
            "manage_projects",
        ] {
            assert!(!allowed.contains(&gone.to_string()), "{gone}: {allowed:?}");
        }
        Ok(())
    })
    .await
}
