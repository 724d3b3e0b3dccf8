//! Chaos under load, short form: on each Redis topology, three gateways and
//! two control planes carry a steady load of allowed, denied and revoked
//! requests while Redis, a control plane, a gateway and Postgres fail; the
//! app's record of every request it received is checked afterwards. Longer
//! runs: `WRNEXUS_CHAOS_CYCLES=20 cargo test -p wrnexus-e2e --test chaos --
//! --nocapture --test-threads 1`.

use wrnexus_e2e::TestResult;
use wrnexus_e2e::chaos::topology::Kind;
use wrnexus_e2e::chaos::{Shape, run};

/// One fleet at a time: three at once would overload a small machine and
/// blur the timings the check holds them to.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn chaos(kind: Kind) -> TestResult {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shape = Shape::from_env()?;
    let Some(figures) = run(kind, &shape).await? else {
        return Ok(());
    };
    eprintln!("{}", figures.report());
    // The run itself checked every request; here, that there was a run.
    assert!(figures.forwarded > 100, "{}", figures.report());
    assert!(
        figures
            .refusals
            .keys()
            .any(|cause| cause.starts_with("403")),
        "no request was refused by a policy or a revocation:\n{}",
        figures.report()
    );
    assert_eq!(
        figures.revocation_lags.len(),
        3 * shape.cycles,
        "{}",
        figures.report()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_one_redis_node() -> TestResult {
    chaos(Kind::Single).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_redis_sentinel() -> TestResult {
    chaos(Kind::Sentinel).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_redis_cluster() -> TestResult {
    chaos(Kind::Cluster).await
}
