//! The main flow over real processes on Postgres and Redis, configured by
//! the example config in `deploy/`.

mod scenario;

use reqwest::Method;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::services::{fresh_postgres, redis, redis_url};
use wrnexus_e2e::stack::Stack;

#[tokio::test]
async fn main_flow_on_postgres_and_redis() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let Some(mut conn) = redis().await? else {
        return Ok(());
    };
    let stack = Stack::split(&database, &redis_url()).await?;
    let result = async {
        scenario::main_flow(&stack).await?;

        // Decision data lives in Redis: a membership entry appears on sign-up.
        let c = http();
        let carol = sign_up(&c, &stack.gateway, &client::email("carol")).await?;
        let key = format!("wrnexus:{{u:{}}}:member:{}", carol.id, carol.workspace_id);
        let entry: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        let entry: serde_json::Value =
            serde_json::from_str(&entry.ok_or("no membership entry in redis")?)?;
        assert_eq!(entry["role"], "owner");
        assert!(entry["version"].as_i64().is_some_and(|v| v > 0), "{entry}");
        let r = carol
            .req(&c, Method::GET, &format!("{}/", stack.gateway))
            .send()
            .await?;
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
