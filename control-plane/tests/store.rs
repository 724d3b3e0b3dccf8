//! One store suite, run on SQLite and on Postgres.

use std::future::Future;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::{Store, StoreError, sqlite_url};
use wrnexus_policies::{Role, WorkspaceStatus};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn postgres_url() -> Result<Option<String>, Box<dyn std::error::Error + Send + Sync>> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let admin = std::env::var("WRNEXUS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            return Err(format!("postgres is required but unavailable: {e}").into());
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING the Postgres store suite: {e} !!!\n");
            return Ok(None);
        }
    };
    let name = format!("wrnexus_store_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    Ok(Some(format!(
        "{}/{name}",
        admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
    )))
}

/// Run `suite` on a fresh SQLite file and a fresh Postgres database.
async fn on_both<F, Fut>(suite: F) -> TestResult
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    let sqlite = Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), Pusher::none()).await?;
    suite(sqlite).await.map_err(|e| format!("sqlite: {e}"))?;
    if let Some(url) = postgres_url().await? {
        let pg = Store::connect(&url, Pusher::none()).await?;
        suite(pg).await.map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}

async fn count(store: &Store, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
}

#[tokio::test]
async fn sign_up_is_all_or_nothing() -> TestResult {
    on_both(|store| async move {
        let first = store.sign_up("ann@example.com", "hash").await?;
        assert_eq!(
            store.role_of(&first.workspace_id, &first.user.id).await?,
            Some(Role::Owner)
        );
        let before = (
            count(&store, "users").await?,
            count(&store, "workspaces").await?,
            count(&store, "memberships").await?,
        );
        let again = store.sign_up("ann@example.com", "hash").await;
        assert!(
            matches!(
                again,
                Err(StoreError::Conflict {
                    code: "email_taken",
                    ..
                })
            ),
            "{again:?}"
        );
        let after = (
            count(&store, "users").await?,
            count(&store, "workspaces").await?,
            count(&store, "memberships").await?,
        );
        assert_eq!(before, after, "a failed sign-up wrote something");
        let ws = store.workspaces_of(&first.user.id).await?;
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].workspace.kind, "personal");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_workspace_keeps_an_owner() -> TestResult {
    on_both(|store| async move {
        let ann = store.sign_up("ann@example.com", "hash").await?;
        let team = store.create_team_workspace(&ann.user.id, "Team").await?;
        let demoted = store.set_role(&team.id, &ann.user.id, Role::Admin).await;
        assert!(
            matches!(
                demoted,
                Err(StoreError::Conflict {
                    code: "last_owner",
                    ..
                })
            ),
            "{demoted:?}"
        );
        let removed = store.remove_member(&team.id, &ann.user.id).await;
        assert!(
            matches!(
                removed,
                Err(StoreError::Conflict {
                    code: "last_owner",
                    ..
                })
            ),
            "{removed:?}"
        );
        assert_eq!(
            store.role_of(&team.id, &ann.user.id).await?,
            Some(Role::Owner)
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn invitations_are_single_use_and_addressed() -> TestResult {
    on_both(|store| async move {
        let ann = store.sign_up("ann@example.com", "hash").await?;
        let bob = store.sign_up("bob@example.com", "hash").await?;
        let eve = store.sign_up("eve@example.com", "hash").await?;
        let team = store.create_team_workspace(&ann.user.id, "Team").await?;
        store
            .create_invitation(
                &team.id,
                "bob@example.com",
                Role::Viewer,
                &ann.user.id,
                "h1",
                3600,
            )
            .await?;
        let stolen = store
            .accept_invitation("h1", &eve.user.id, "eve@example.com")
            .await;
        assert!(
            matches!(
                stolen,
                Err(StoreError::Conflict {
                    code: "invitation_email_mismatch",
                    ..
                })
            ),
            "{stolen:?}"
        );
        store
            .accept_invitation("h1", &bob.user.id, "bob@example.com")
            .await?;
        assert_eq!(
            store.role_of(&team.id, &bob.user.id).await?,
            Some(Role::Viewer)
        );
        let twice = store
            .accept_invitation("h1", &bob.user.id, "bob@example.com")
            .await;
        assert!(
            matches!(
                twice,
                Err(StoreError::Conflict {
                    code: "invitation_spent",
                    ..
                })
            ),
            "{twice:?}"
        );
        let member_again = store
            .create_invitation(
                &team.id,
                "bob@example.com",
                Role::Member,
                &ann.user.id,
                "h2",
                3600,
            )
            .await;
        assert!(
            matches!(
                member_again,
                Err(StoreError::Conflict {
                    code: "already_member",
                    ..
                })
            ),
            "{member_again:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn decision_data_follows_changes() -> TestResult {
    on_both(|store| async move {
        let ann = store.sign_up("ann@example.com", "hash").await?;
        let session = store.create_session(&ann.user.id, 3600).await?;
        let key = |k: wrnexus_policies::EntryKey| k.cache_key();
        let data = store
            .decision_data(&session.id, &ann.user.id, &ann.workspace_id)
            .await?;
        let member = &data.entries[&key(wrnexus_policies::EntryKey::membership(
            &ann.workspace_id,
            &ann.user.id,
        ))];
        assert_eq!(
            member.entry,
            wrnexus_policies::Entry::Membership {
                role: Some(Role::Owner)
            }
        );
        store
            .set_workspace_status(&ann.workspace_id, WorkspaceStatus::Suspended)
            .await?;
        store.revoke_session(&session.id).await?;
        let later = store
            .decision_data(&session.id, &ann.user.id, &ann.workspace_id)
            .await?;
        let ws = &later.entries[&key(wrnexus_policies::EntryKey::Workspace(
            ann.workspace_id.clone(),
        ))];
        assert!(matches!(
            ws.entry,
            wrnexus_policies::Entry::Workspace {
                status: WorkspaceStatus::Suspended,
                ..
            }
        ));
        let s = &later.entries[&key(wrnexus_policies::EntryKey::Session(session.id.clone()))];
        assert!(matches!(
            s.entry,
            wrnexus_policies::Entry::Session { revoked: true, .. }
        ));
        assert!(
            s.version > member.version,
            "versions must grow with changes"
        );
        Ok(())
    })
    .await
}
