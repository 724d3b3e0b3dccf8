//! On Postgres the control plane refuses to start on a database role that
//! row-level security does not bind — a superuser, a role with BYPASSRLS,
//! or the owner of the tenant tables — or with row-level security turned
//! off on a tenant table, unless `allow_rls_bypass` is set; the service
//! role starts without it.

mod common;

use common::TestResult;
use common::http::config;
use sqlx::{AnyConnection, Connection};
use wrnexus_control_plane::{ControlPlaneConfig, build};

/// Start (build) a control plane: `Ok(())`, or the error's message.
async fn start(config: ControlPlaneConfig) -> TestResult<Result<(), String>> {
    Ok(match build(config, None).await {
        Ok(state) => {
            state.store.pool().close().await;
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    })
}

/// The refusal names the risk and tells how to fix it.
fn assert_refused(outcome: &Result<(), String>, risk: &str) {
    assert!(outcome.is_err(), "started although {risk}");
    let message = outcome.as_ref().err().map_or("", String::as_str);
    for part in [
        risk,
        "row-level security",
        "service role",
        "wrnexus_app",
        "migrate_database_url",
        "allow_rls_bypass = true",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

/// A login role in `wrnexus_app`, created once per cluster.
async fn role(admin: &mut AnyConnection, name: &str, attributes: &str) -> TestResult {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {name} LOGIN {attributes} IN ROLE wrnexus_app; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )))
    .execute(admin)
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_superuser_is_refused_unless_allowed() -> TestResult {
    let Some((owner, _)) = common::postgres().await? else {
        return Ok(());
    };
    // `postgres`: a superuser, and the owner of the tables.
    let outcome = start(config(&owner, None)).await?;
    assert_refused(&outcome, "role `postgres` is a superuser");
    assert!(
        outcome
            .as_ref()
            .is_err_and(|m| m.contains("owns the tenant tables")),
        "{outcome:?}"
    );

    let mut allowed = config(&owner, None);
    allowed.allow_rls_bypass = true;
    assert_eq!(start(allowed).await?, Ok(()));
    Ok(())
}

#[tokio::test]
async fn a_bypassrls_role_is_refused_unless_allowed() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let mut admin = AnyConnection::connect(&owner).await?;
    role(&mut admin, "wrnexus_test_bypass", "BYPASSRLS").await?;
    let bypass = service.replacen(common::SERVICE_ROLE, "wrnexus_test_bypass", 1);

    let outcome = start(config(&bypass, Some(&owner))).await?;
    assert_refused(&outcome, "role `wrnexus_test_bypass` has BYPASSRLS");

    let mut allowed = config(&bypass, Some(&owner));
    allowed.allow_rls_bypass = true;
    assert_eq!(start(allowed).await?, Ok(()));
    Ok(())
}

#[tokio::test]
async fn the_owner_of_a_tenant_table_is_refused_unless_allowed() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let mut admin = AnyConnection::connect(&owner).await?;
    role(&mut admin, "wrnexus_test_table_owner", "").await?;
    // This test's own database: the role owns one tenant table there.
    sqlx::query("ALTER TABLE audit_log OWNER TO wrnexus_test_table_owner")
        .execute(&mut admin)
        .await?;
    let table_owner = service.replacen(common::SERVICE_ROLE, "wrnexus_test_table_owner", 1);

    let outcome = start(config(&table_owner, Some(&owner))).await?;
    assert_refused(
        &outcome,
        "role `wrnexus_test_table_owner` owns the tenant tables (audit_log)",
    );

    let mut allowed = config(&table_owner, Some(&owner));
    allowed.allow_rls_bypass = true;
    assert_eq!(start(allowed).await?, Ok(()));
    Ok(())
}

#[tokio::test]
async fn a_tenant_table_with_row_security_off_is_refused_unless_allowed() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let mut admin = AnyConnection::connect(&owner).await?;
    // This test's own database: someone switched it off on one table.
    sqlx::query("ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY")
        .execute(&mut admin)
        .await?;
    let outcome = start(config(&service, Some(&owner))).await?;
    assert_refused(
        &outcome,
        "row-level security is turned off on the tenant tables (audit_log)",
    );

    let mut allowed = config(&service, Some(&owner));
    allowed.allow_rls_bypass = true;
    assert_eq!(start(allowed).await?, Ok(()));

    sqlx::query("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
        .execute(&mut admin)
        .await?;
    assert_eq!(start(config(&service, Some(&owner))).await?, Ok(()));
    Ok(())
}

#[tokio::test]
async fn the_service_role_starts_without_the_flag() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let outcome = start(config(&service, Some(&owner))).await?;
    assert_eq!(outcome, Ok(()));
    Ok(())
}
