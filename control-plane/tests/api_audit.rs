//! The audit API over HTTP on SQLite and Postgres: filters by actor, action
//! and time window, cursor pages that neither skip nor repeat, and an NDJSON
//! export that honours the same filters.

mod common;

use common::TestResult;
use common::http::Api;
use common::http::on_both;
use common::team::{header, ids};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// The export of `workspace` with `filters`: its content type and rows.
async fn export(
    api: &Api,
    workspace: &str,
    token: &str,
    filters: &str,
) -> TestResult<(String, Vec<Value>)> {
    let res = api
        .send(
            Method::GET,
            &format!("/workspaces/{workspace}/audit/export?{filters}"),
            token,
            None,
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = header(&res, "content-type").unwrap_or_default();
    let text = res.text().await?;
    let rows = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()?;
    Ok((content_type, rows))
}

/// Create project `name` in `workspace` as `token`: its id.
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

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        // Three projects a second or more apart, by ann, bob, ann.
        let early = project(&api, &acme, &ann.token, "early").await?;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let middle = project(&api, &acme, &bob.token, "middle").await?;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let late = project(&api, &acme, &ann.token, "late").await?;
        let all = api.audit(&acme, &ann.token, "").await?;
        assert!(all.len() >= 6, "{all:?}");
        let target = |rows: &[Value]| -> Vec<String> {
            rows.iter()
                .filter_map(|r| r["target"].as_str().map(str::to_string))
                .collect()
        };
        let where_ = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
            all.iter()
                .filter(|r| keep(r))
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        };

        // By actor: bob's rows only, his joining and his project among them.
        let bobs = api
            .audit(&acme, &ann.token, &format!("actor={}", bob.id))
            .await?;
        assert_eq!(ids(&bobs), where_(&|r| r["actor_id"] == bob.id.as_str()));
        let actions: Vec<&str> = bobs.iter().filter_map(|r| r["action"].as_str()).collect();
        assert!(
            actions.contains(&"member.added") && actions.contains(&"project.created"),
            "{actions:?}"
        );
        // By action, alone and with an actor.
        let created = api
            .audit(&acme, &ann.token, "action=project.created")
            .await?;
        assert_eq!(
            target(&created),
            [early.clone(), middle.clone(), late.clone()]
        );
        let anns = api
            .audit(
                &acme,
                &ann.token,
                &format!("action=project.created&actor={}", ann.id),
            )
            .await?;
        assert_eq!(target(&anns), [early.clone(), late.clone()]);

        // A time window: the rows inside it only, in Unix seconds or RFC 3339.
        let row = created
            .iter()
            .find(|r| r["target"] == middle.as_str())
            .ok_or("middle row")?;
        let at = row["at"].as_i64().ok_or("at")?;
        let stamp = row["time"].as_str().ok_or("time")?.replace('+', "%2B");
        let inside = where_(&|r| r["at"].as_i64() == Some(at));
        for window in [
            format!("since={at}&until={at}"),
            format!("since={stamp}&until={stamp}"),
        ] {
            let rows = api.audit(&acme, &ann.token, &window).await?;
            assert_eq!(ids(&rows), inside, "{window}");
            let targets = target(&rows);
            assert!(targets.contains(&middle), "{window}: {targets:?}");
            assert!(
                !targets.contains(&early) && !targets.contains(&late),
                "{window}: {targets:?}"
            );
        }
        let since = api.audit(&acme, &ann.token, &format!("since={at}")).await?;
        assert_eq!(ids(&since), where_(&|r| r["at"].as_i64() >= Some(at)));
        let until = api.audit(&acme, &ann.token, &format!("until={at}")).await?;
        assert_eq!(ids(&until), where_(&|r| r["at"].as_i64() <= Some(at)));

        // Pages of two: together the whole log, in order, nothing twice.
        let mut paged: Vec<String> = Vec::new();
        let mut cursor = String::new();
        loop {
            let (s, page) = api
                .call(
                    Method::GET,
                    &format!("/workspaces/{acme}/audit?limit=2{cursor}"),
                    &ann.token,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::OK, "{page}");
            let entries = page["entries"].as_array().ok_or("entries")?;
            assert!(entries.len() <= 2, "{page}");
            paged.extend(ids(entries));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
            assert!(paged.len() <= all.len(), "the pages never end");
        }
        assert_eq!(paged, ids(&all));

        // The export: NDJSON, every row, the same filters.
        let (content_type, rows) = export(&api, &acme, &ann.token, "").await?;
        assert_eq!(content_type, "application/x-ndjson");
        assert_eq!(ids(&rows), ids(&all));
        assert!(
            rows.iter()
                .all(|r| r["time"].is_string() && r["action"].is_string())
        );
        let (_, rows) = export(
            &api,
            &acme,
            &ann.token,
            &format!("action=project.created&actor={}", ann.id),
        )
        .await?;
        assert_eq!(ids(&rows), ids(&anns));
        let (_, rows) = export(&api, &acme, &ann.token, &format!("since={at}&until={at}")).await?;
        assert_eq!(ids(&rows), inside);
        let (_, rows) = export(&api, &acme, &ann.token, &format!("actor={}", bob.id)).await?;
        assert_eq!(ids(&rows), ids(&bobs));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_export_streams_past_one_page() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let vic = api.sign_up("vic@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &vic, "viewer").await?;
        // More denied renames than one page of the export (500 rows).
        for n in 0..510 {
            let (s, _) = api
                .call(
                    Method::PATCH,
                    &format!("/workspaces/{acme}"),
                    &vic.token,
                    Some(json!({ "name": format!("Vic's {n}") })),
                )
                .await?;
            assert_eq!(s, StatusCode::FORBIDDEN);
        }
        let all = api.audit(&acme, &ann.token, "").await?;
        assert!(all.len() > 510, "{}", all.len());
        let (_, rows) = export(&api, &acme, &ann.token, "").await?;
        assert_eq!(ids(&rows), ids(&all));
        let (_, denied) = export(&api, &acme, &ann.token, "action=api.denied").await?;
        assert_eq!(denied.len(), 510);
        assert!(denied.iter().all(|r| r["actor_id"] == vic.id.as_str()));
        Ok(())
    })
    .await
}
