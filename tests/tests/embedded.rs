//! The main flow on embedded defaults: `wrnexus dev`, SQLite, no Postgres, no Redis.

mod scenario;

use wrnexus_e2e::TestResult;
use wrnexus_e2e::stack::Stack;

#[tokio::test]
async fn main_flow_embedded() -> TestResult {
    let stack = Stack::embedded().await?;
    let result = scenario::main_flow(&stack).await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}
