//! API keys limited to projects, and archived projects, in the control
//! plane's own decisions, on SQLite and Postgres: a key is created with
//! `projects` (each a project of its workspace, at least one), shows them,
//! and works only in them — the same rules the gateway applies; an archived
//! project takes nothing but unarchiving.

mod common;

use common::TestResult;
use common::http::{Api, on_both};
use common::team::{assert_bad_input, code, ids, new_project};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Ask to create a key in `workspace` with `body`.
async fn create_key(
    api: &Api,
    bearer: &str,
    workspace: &str,
    body: Value,
) -> TestResult<(StatusCode, Value)> {
    api.call(
        Method::POST,
        &format!("/workspaces/{workspace}/api-keys"),
        bearer,
        Some(body),
    )
    .await
}

/// PATCH a project with `body` as `bearer`.
async fn patch_project(
    api: &Api,
    bearer: &str,
    workspace: &str,
    project: &str,
    body: Value,
) -> TestResult<(StatusCode, Value)> {
    api.call(
        Method::PATCH,
        &format!("/workspaces/{workspace}/projects/{project}"),
        bearer,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_key_is_limited_to_projects_of_its_workspace() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let bobco = api.team(&bob, "Bobco").await?;
        let web = new_project(&api, &ann, &acme, "web").await?;
        let app = new_project(&api, &ann, &acme, "app").await?;
        let theirs = new_project(&api, &bob, &bobco, "theirs").await?;

        // Each id named once, sorted; shown on creation and in the list.
        let (s, created) = create_key(
            &api,
            &ann.token,
            &acme,
            json!({ "name": "ci", "role_ceiling": "admin", "projects": [web, web] }),
        )
        .await?;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["api_key"]["projects"], json!([web]), "{created}");
        let id = created["api_key"]["id"].as_str().ok_or("id")?.to_string();
        let secret = created["secret"].as_str().ok_or("secret")?.to_string();
        let keys = api.list(&acme, "api_keys", &ann.token).await?;
        let listed = keys.iter().find(|k| k["id"] == id).ok_or("not listed")?;
        assert_eq!(listed["projects"], json!([web]), "{listed}");
        let row = api.only_row(&acme, &ann.token, "api_key.created").await?;
        assert_eq!(row["detail"]["projects"], json!([web]), "{row}");

        // Another workspace's project, an unknown one, none at all, not a list.
        for (what, body, want) in [
            ("a foreign project", json!([theirs]), "unknown_project"),
            (
                "an unknown project",
                json!([web, "nope"]),
                "unknown_project",
            ),
            ("an empty list", json!([]), "invalid_list"),
        ] {
            let (s, b) = create_key(
                &api,
                &ann.token,
                &acme,
                json!({ "name": "bad", "projects": body }),
            )
            .await?;
            assert_bad_input(what, s, &b, want, "projects");
        }
        let (s, b) = create_key(
            &api,
            &ann.token,
            &acme,
            json!({ "name": "bad", "projects": web }),
        )
        .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["field"], json!("projects"), "{b}");
        // Nothing was made of the refusals.
        assert_eq!(api.list(&acme, "api_keys", &ann.token).await?.len(), 1);

        // `null` is every project, as is leaving it out: no `projects` shown.
        let (s, all) = create_key(
            &api,
            &ann.token,
            &acme,
            json!({ "name": "all", "role_ceiling": "admin", "projects": null }),
        )
        .await?;
        assert_eq!(s, StatusCode::CREATED, "{all}");
        assert_eq!(all["api_key"].get("projects"), None, "{all}");
        let all_secret = all["secret"].as_str().ok_or("secret")?.to_string();

        // The limited key sees and manages its project only, and does not
        // manage the workspace; the unlimited one does all of it.
        let seen = api.list(&acme, "projects", &secret).await?;
        assert_eq!(ids(&seen), std::slice::from_ref(&web));
        let (s, b) =
            patch_project(&api, &secret, &acme, &web, json!({ "name": "website" })).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = patch_project(&api, &secret, &acme, &app, json!({ "name": "x" })).await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "project_not_granted"),
            "{b}"
        );
        assert!(b["decision_id"].is_string(), "{b}");
        let (s, b) = api
            .call(
                Method::GET,
                &format!("/workspaces/{acme}/api-keys"),
                &secret,
                None,
            )
            .await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "project_not_granted"),
            "{b}"
        );
        assert_eq!(api.list(&acme, "projects", &all_secret).await?.len(), 2);
        let (s, b) =
            patch_project(&api, &all_secret, &acme, &app, json!({ "name": "mobile" })).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_archived_project_takes_nothing_but_unarchiving() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let carol = api.sign_up("carol@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &carol, "member").await?;
        let web = new_project(&api, &ann, &acme, "web").await?;
        let (s, b) =
            patch_project(&api, &ann.token, &acme, &web, json!({ "archived": true })).await?;
        assert_eq!(
            (s, &b["project"]["archived"]),
            (StatusCode::OK, &json!(true)),
            "{b}"
        );

        // Renaming it, or archiving it again, is a change to a read-only project.
        for body in [json!({ "name": "x" }), json!({ "archived": true })] {
            let (s, b) = patch_project(&api, &ann.token, &acme, &web, body).await?;
            assert_eq!(
                (s, code(&b)),
                (StatusCode::FORBIDDEN, "project_archived"),
                "{b}"
            );
            assert!(b["decision_id"].is_string(), "{b}");
        }
        let denied = api.audit(&acme, &ann.token, "action=api.denied").await?;
        assert!(
            denied
                .iter()
                .any(|r| r["detail"]["policies"] == json!(["project-read-only"])),
            "{denied:?}"
        );
        // A member may not unarchive it; its reads go on.
        let (s, b) = patch_project(
            &api,
            &carol.token,
            &acme,
            &web,
            json!({ "archived": false }),
        )
        .await?;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"), "{b}");
        let seen = api.list(&acme, "projects", &carol.token).await?;
        assert_eq!(seen[0]["archived"], json!(true), "{seen:?}");
        // An admin (here the owner) unarchives it, renaming it at once.
        let (s, b) = patch_project(
            &api,
            &ann.token,
            &acme,
            &web,
            json!({ "archived": false, "name": "web2" }),
        )
        .await?;
        assert_eq!(
            (s, &b["project"]["archived"], &b["project"]["name"]),
            (StatusCode::OK, &json!(false), &json!("web2")),
            "{b}"
        );
        let (s, b) =
            patch_project(&api, &ann.token, &acme, &web, json!({ "name": "web3" })).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        Ok(())
    })
    .await
}
