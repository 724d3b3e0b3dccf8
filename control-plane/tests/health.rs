//! `GET /v1/health` says whether the database answers: 200 while it does,
//! 503 problem+json once it is gone (the database dropped under it).

mod common;

use common::TestResult;
use common::http::{Api, config};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

async fn health(api: &Api) -> TestResult<(StatusCode, String)> {
    let res = api
        .http
        .get(format!("{}/v1/health", api.base))
        .send()
        .await?;
    Ok((res.status(), res.text().await?))
}

#[tokio::test]
async fn health_follows_the_database() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let api = Api::start(config(&service, Some(&owner))).await?;
    assert_eq!(health(&api).await?, (StatusCode::OK, "ok".to_string()));

    let name = owner
        .rsplit('/')
        .next()
        .ok_or("no database name")?
        .to_string();
    let mut admin = sqlx::AnyConnection::connect(&common::admin_url()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;

    let (status, body) = health(&api).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let problem: Value = serde_json::from_str(&body)?;
    assert_eq!(problem["code"], "backend_unavailable", "{body}");
    Ok(())
}
