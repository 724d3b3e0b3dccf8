//! The decision data of a project, on SQLite and Postgres: a gateway's miss
//! asks `GET /internal/decision-data` with `project_id` (for a session or an
//! API key) and gets the project's entry — the workspace it is in and
//! whether it is archived, at the project's version — whichever workspace
//! it is in (row-level security does not hide it), or `missing` at the
//! current version; archiving and unarchiving take a newer version.

mod common;

use common::team::new_project;

use common::TestResult;
use common::http::{Api, User, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wrnexus_policies::{DecisionData, Entry, EntryKey, Role, VersionedEntry};

/// The decision data `bearer` is answered with for `query`.
async fn data(api: &Api, bearer: &str, query: &str) -> TestResult<DecisionData> {
    let (s, body) = api
        .call(
            Method::GET,
            &format!("/internal/decision-data?{query}"),
            bearer,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{query}: {body}");
    Ok(serde_json::from_value(body)?)
}

/// The entry of project `id` in `data`.
fn project(data: &DecisionData, id: &str) -> TestResult<VersionedEntry> {
    Ok(data
        .entries
        .get(&EntryKey::Project(id.to_string()).cache_key())
        .cloned()
        .ok_or(format!("no entry for project {id}: {data:?}"))?)
}

/// The largest version among the entries of `data`.
fn newest(data: &DecisionData) -> i64 {
    data.entries.values().map(|e| e.version).max().unwrap_or(0)
}

fn in_workspace(workspace: &str, archived: bool) -> Entry {
    Entry::Project {
        workspace_id: workspace.to_string(),
        archived,
    }
}

async fn set_archived(
    api: &Api,
    owner: &User,
    workspace: &str,
    project: &str,
    archived: bool,
) -> TestResult {
    let (s, b) = api
        .call(
            Method::PATCH,
            &format!("/workspaces/{workspace}/projects/{project}"),
            &owner.token,
            Some(json!({ "archived": archived })),
        )
        .await?;
    assert_eq!(
        (s, b["project"]["archived"].as_bool()),
        (StatusCode::OK, Some(archived)),
        "{b}"
    );
    Ok(())
}

#[tokio::test]
async fn a_session_is_answered_the_project_it_names() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let bobco = api.team(&bob, "Bobco").await?;
        let web = new_project(&api, &ann, &acme, "web").await?;
        let theirs = new_project(&api, &bob, &bobco, "theirs").await?;
        let here = |project: &str| format!("workspace_id={acme}&project_id={project}");

        // Without a project: no project entry.
        let plain = data(&api, &ann.token, &format!("workspace_id={acme}")).await?;
        assert!(
            !plain.entries.keys().any(|k| k.starts_with("wrnexus:{p:")),
            "{plain:?}"
        );

        // A project of the workspace: its entry, at its version.
        let first = data(&api, &ann.token, &here(&web)).await?;
        let before = project(&first, &web)?;
        assert_eq!(before.entry, in_workspace(&acme, false));
        assert!(before.version > 0);
        // The membership, workspace, session and user entries come as before.
        let member = &first.entries[&EntryKey::membership(&acme, &ann.id).cache_key()];
        assert!(
            matches!(
                member.entry,
                Entry::Membership {
                    role: Some(Role::Owner),
                    ..
                }
            ),
            "{member:?}"
        );

        // A project of another workspace: the truth, for the gateway to
        // compare (and answer 404), never an error, on Postgres too.
        let other = data(&api, &ann.token, &here(&theirs)).await?;
        assert_eq!(project(&other, &theirs)?.entry, in_workspace(&bobco, false));

        // No such project: missing, at the current version.
        let none = data(&api, &ann.token, &here("no-such-project")).await?;
        let missing = project(&none, "no-such-project")?;
        assert_eq!(missing.entry, Entry::Missing);
        assert_eq!(missing.version, newest(&none), "{none:?}");
        assert!(missing.version >= before.version);

        // Archived: a newer version says so; unarchived: newer again.
        set_archived(&api, &ann, &acme, &web, true).await?;
        let archived = project(&data(&api, &ann.token, &here(&web)).await?, &web)?;
        assert_eq!(archived.entry, in_workspace(&acme, true));
        assert!(archived.version > before.version, "{archived:?}");
        set_archived(&api, &ann, &acme, &web, false).await?;
        let back = project(&data(&api, &ann.token, &here(&web)).await?, &web)?;
        assert_eq!(back.entry, in_workspace(&acme, false));
        assert!(back.version > archived.version, "{back:?}");

        // A rename decides nothing: the entry keeps its version.
        let (s, b) = api
            .call(
                Method::PATCH,
                &format!("/workspaces/{acme}/projects/{web}"),
                &ann.token,
                Some(json!({ "name": "website" })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        let renamed = project(&data(&api, &ann.token, &here(&web)).await?, &web)?;
        assert_eq!(renamed, back);

        // A non-member of the workspace asked about is told nothing of the
        // workspace; the project's entry is the project's, the same for all.
        let outside = data(&api, &bob.token, &here(&web)).await?;
        assert!(
            !outside
                .entries
                .contains_key(&EntryKey::Workspace(acme.clone()).cache_key()),
            "{outside:?}"
        );
        assert_eq!(project(&outside, &web)?, back);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_api_key_is_answered_the_project_it_names_and_its_limits() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let bobco = api.team(&bob, "Bobco").await?;
        let web = new_project(&api, &ann, &acme, "web").await?;
        let theirs = new_project(&api, &bob, &bobco, "theirs").await?;
        let (s, created) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/api-keys"),
                &ann.token,
                Some(json!({ "name": "ci", "role_ceiling": "member", "projects": [web] })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let key_id = created["api_key"]["id"].as_str().ok_or("key id")?;
        let secret = created["secret"].as_str().ok_or("secret")?;
        set_archived(&api, &ann, &acme, &web, true).await?;

        let own = data(&api, secret, &format!("project_id={web}")).await?;
        let key = &own.entries[&EntryKey::ApiKey(key_id.to_string()).cache_key()];
        assert!(
            matches!(
                &key.entry,
                Entry::ApiKey { projects: Some(p), workspace_id, revoked: false, .. }
                    if *p == [web.clone()] && *workspace_id == acme
            ),
            "{key:?}"
        );
        assert!(
            own.entries
                .contains_key(&EntryKey::Workspace(acme.clone()).cache_key())
        );
        assert_eq!(project(&own, &web)?.entry, in_workspace(&acme, true));

        // Another workspace's project, and none at all.
        let other = data(&api, secret, &format!("project_id={theirs}")).await?;
        assert_eq!(project(&other, &theirs)?.entry, in_workspace(&bobco, false));
        let none = data(&api, secret, "project_id=nothing-here").await?;
        assert_eq!(project(&none, "nothing-here")?.entry, Entry::Missing);

        // The JSON a gateway reads, exactly.
        let (_, raw) = api
            .call(
                Method::GET,
                &format!("/internal/decision-data?project_id={web}"),
                secret,
                None,
            )
            .await?;
        let entry = &raw["entries"][format!("wrnexus:{{p:{web}}}:project")];
        assert_eq!(
            (&entry["kind"], &entry["workspace_id"], &entry["archived"]),
            (&json!("project"), &json!(acme), &json!(true)),
            "{raw}"
        );
        assert!(entry["version"].is_i64(), "{raw}");
        let key = &raw["entries"][format!("wrnexus:{{k:{key_id}}}:apikey")];
        assert_eq!(key["projects"], json!([web]), "{raw}");
        let missing = &none.entries[&EntryKey::Project("nothing-here".into()).cache_key()];
        assert_eq!(
            serde_json::to_value(missing)?,
            json!({ "version": missing.version, "kind": "missing" })
        );
        // A key without limits carries none.
        let (_, all) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/api-keys"),
                &ann.token,
                Some(json!({ "name": "all" })),
            )
            .await?;
        let (_, raw) = api
            .call(
                Method::GET,
                "/internal/decision-data",
                all["secret"].as_str().ok_or("secret")?,
                None,
            )
            .await?;
        let id = all["api_key"]["id"].as_str().ok_or("id")?;
        assert_eq!(
            raw["entries"][format!("wrnexus:{{k:{id}}}:apikey")].get("projects"),
            None::<&Value>,
            "{raw}"
        );
        Ok(())
    })
    .await
}
