//! Isolation in depth on Postgres: every table that holds a workspace's rows
//! has row-level security enabled and forced, the service role sees none of
//! them without a scope (all of them with one), the audit log refuses
//! changes from every role, and the control plane recognises a database role
//! that row-level security does not bind.

mod common;

use common::TestResult;
use common::billing::{billing_on, create_team, join, send};
use common::http::{Api, config};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{AnyConnection, Connection};
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::Store;
use wrnexus_control_plane::store::isolation::IsolationRisk;

/// Every table with a `workspace_id` column, and `workspaces` itself: read
/// from the migrated schema, so a new tenant table cannot be left out.
async fn tenant_tables(conn: &mut AnyConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'workspace_id' \
         UNION SELECT 'workspaces' ORDER BY 1",
    )
    .fetch_all(conn)
    .await
}

async fn count(conn: &mut AnyConnection, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(conn)
        .await
}

#[tokio::test]
async fn every_tenant_table_is_hidden_without_a_scope() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let mut c = config(&service, Some(&owner));
    billing_on(&mut c);
    // The endpoint below is on loopback: the operator allows it.
    c.webhooks.allow_networks =
        wrnexus_control_plane::webhook_target::parse_networks(&["127.0.0.0/8"])?;
    let api = Api::start(c).await?;

    // One workspace with a row in every tenant table.
    let ann = api.sign_up("ann@example.com").await?;
    let team = create_team(&api, &ann, "Acme").await?;
    for (path, body) in [
        // First, so that every later event is queued for delivery.
        (
            "webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}),
        ),
        ("projects", json!({"name": "web"})),
        ("api-keys", json!({"name": "ci"})),
        ("sso/domains", json!({"domain": "acme.example"})),
    ] {
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{team}/{path}"),
                &ann.token,
                Some(body),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    }
    join(&api, &ann, &team, "bob@example.com", "member").await?;
    for fixture in [
        "customer.subscription.created.json",
        "customer.subscription.updated.past_due.json",
        "invoice.payment_failed.json",
    ] {
        send(&api, fixture, &team).await?;
    }

    let mut admin = AnyConnection::connect(&owner).await?;
    // A single sign-on connection (saving one through the API asks a real
    // identity provider; the suites with one do that).
    sqlx::query("SELECT set_config('wrnexus.system', 'on', false)")
        .execute(&mut admin)
        .await?;
    sqlx::query(
        "INSERT INTO sso_connections (id, workspace_id, issuer, client_id, \
         client_secret_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, 0)",
    )
    .bind("con_isolation")
    .bind(&team)
    .bind("https://idp.example.com")
    .bind("wrnexus")
    .bind("v1:sealed")
    .execute(&mut admin)
    .await?;
    sqlx::query("SELECT set_config('wrnexus.system', '', false)")
        .execute(&mut admin)
        .await?;
    let tables = tenant_tables(&mut admin).await?;
    for expected in [
        "memberships",
        "invitations",
        "projects",
        "api_keys",
        "audit_log",
        "webhook_endpoints",
        "webhook_events",
        "webhook_deliveries",
        "billing_accounts",
        "stripe_events",
        "invoices",
        "mail_outbox",
        "sso_connections",
        "sso_domains",
    ] {
        assert!(
            tables.iter().any(|t| t == expected),
            "{expected}: {tables:?}"
        );
    }
    for table in &tables {
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class \
             WHERE oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_one(&mut admin)
        .await?;
        assert!(
            enabled && forced,
            "row-level security on {table}: {enabled} {forced}"
        );
    }

    let mut conn = AnyConnection::connect(&service).await?;
    for table in &tables {
        assert_eq!(
            count(&mut conn, table).await?,
            0,
            "an unscoped SELECT on {table} saw rows"
        );
    }
    sqlx::query("SELECT set_config('wrnexus.workspace_id', $1, false)")
        .bind(&team)
        .execute(&mut conn)
        .await?;
    for table in &tables {
        assert!(
            count(&mut conn, table).await? > 0,
            "{table} has no row of the workspace (this test must fill every tenant table)"
        );
    }

    // Append-only: the service role was never granted it; the owner meets
    // the trigger.
    for (who, conn, expected) in [
        ("service", &mut conn, "permission denied"),
        ("owner", &mut admin, "append-only"),
    ] {
        for statement in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
            let refused = sqlx::query(statement).execute(&mut *conn).await;
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(expected), "{who}: {statement}: {message}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_role_that_row_security_does_not_bind_is_recognised() -> TestResult {
    let Some((owner, service)) = common::postgres().await? else {
        return Ok(());
    };
    let mut admin = AnyConnection::connect(&owner).await?;
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE wrnexus_test_bypass LOGIN BYPASSRLS IN ROLE wrnexus_app; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&mut admin)
    .await?;
    let owner_role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut admin)
        .await?;
    let bypass = service.replacen(common::SERVICE_ROLE, "wrnexus_test_bypass", 1);
    let risks = |url: String| async move {
        let store = Store::connect_without_migrating(&url, Pusher::none()).await?;
        let risks = store.isolation_risks().await?;
        store.pool().close().await;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(risks)
    };

    assert_eq!(risks(service).await?, Vec::new());
    assert_eq!(
        risks(bypass).await?,
        vec![IsolationRisk::BypassRls {
            role: "wrnexus_test_bypass".to_string()
        }]
    );
    let as_owner = risks(owner).await?;
    assert!(
        as_owner.contains(&IsolationRisk::Superuser { role: owner_role }),
        "{as_owner:?}"
    );
    assert!(
        as_owner.iter().any(|r| matches!(
            r,
            IsolationRisk::OwnsTables { tables, .. }
                if tables.iter().any(|t| t == "audit_log")
        )),
        "{as_owner:?}"
    );
    Ok(())
}
