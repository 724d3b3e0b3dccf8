//! One store suite, run on SQLite and on Postgres.

use wrnexus_control_plane::store::accounts::User;
use wrnexus_control_plane::store::audit::{ActorKind, Meta};
use wrnexus_control_plane::store::{Backend, Store, StoreError};
use wrnexus_policies::{Role, WorkspaceStatus};

mod common;

use common::{TestResult, on_both};

/// Rows in `table`, all workspaces together (a system-scoped read).
async fn count(store: &Store, table: &str) -> Result<i64, sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT set_config('wrnexus.system', 'on', true)")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut *tx)
        .await
}

#[tokio::test]
async fn sign_up_is_all_or_nothing() -> TestResult {
    on_both(|store| async move {
        let first = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?;
        assert_eq!(
            store.role_of(&first.workspace_id, &first.user.id).await?,
            Some(Role::Owner)
        );
        let before = (
            count(&store, "users").await?,
            count(&store, "workspaces").await?,
            count(&store, "memberships").await?,
        );
        let again = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await;
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
        let ann = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?;
        let team = store
            .create_team_workspace(&ann.user.id, "Team", &Meta::system())
            .await?;
        let demoted = store
            .set_role(&team.id, &ann.user.id, Role::Admin, &Meta::system())
            .await;
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
        let removed = store
            .remove_member(&team.id, &ann.user.id, &Meta::system())
            .await;
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
        let ann = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?;
        let bob = store
            .sign_up("bob@example.com", "hash", &Meta::system())
            .await?;
        let eve = store
            .sign_up("eve@example.com", "hash", &Meta::system())
            .await?;
        let team = store
            .create_team_workspace(&ann.user.id, "Team", &Meta::system())
            .await?;
        store
            .create_invitation(
                &team.id,
                "bob@example.com",
                Role::Viewer,
                "h1",
                3600,
                &Meta::system(),
            )
            .await?;
        let stolen = store
            .accept_invitation("h1", &eve.user.id, "eve@example.com", &Meta::system())
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
            .accept_invitation("h1", &bob.user.id, "bob@example.com", &Meta::system())
            .await?;
        assert_eq!(
            store.role_of(&team.id, &bob.user.id).await?,
            Some(Role::Viewer)
        );
        let twice = store
            .accept_invitation("h1", &bob.user.id, "bob@example.com", &Meta::system())
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
                "h2",
                3600,
                &Meta::system(),
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
        let ann = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?;
        let session = store.create_session(&ann.user.id, 3600).await?;
        let key = |k: wrnexus_policies::EntryKey| k.cache_key();
        let data = store
            .decision_data(&session.id, &ann.user.id, &ann.workspace_id, None)
            .await?;
        let member = &data.entries[&key(wrnexus_policies::EntryKey::membership(
            &ann.workspace_id,
            &ann.user.id,
        ))];
        assert_eq!(
            member.entry,
            wrnexus_policies::Entry::Membership {
                role: Some(Role::Owner),
                projects: None,
            }
        );
        store
            .set_workspace_status(
                &ann.workspace_id,
                WorkspaceStatus::Suspended,
                &Meta::system(),
            )
            .await?;
        store
            .revoke_session(&session.id, None, &Meta::system())
            .await?;
        let later = store
            .decision_data(&session.id, &ann.user.id, &ann.workspace_id, None)
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
        let s = &later.entries[&key(wrnexus_policies::EntryKey::session(
            &ann.user.id,
            &session.id,
        ))];
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

/// Ann, owner of the team workspace, and Bob, not a member of it.
async fn ann_bob_and_team(store: &Store) -> Result<(User, User, String), StoreError> {
    let ann = store
        .sign_up("ann@example.com", "hash", &Meta::system())
        .await?
        .user;
    let bob = store
        .sign_up("bob@example.com", "hash", &Meta::system())
        .await?
        .user;
    let team = store
        .create_team_workspace(&ann.id, "Team", &Meta::system())
        .await?
        .id;
    Ok((ann, bob, team))
}

fn refused_as_last_owner<T>(result: &Result<T, StoreError>) -> bool {
    matches!(
        result,
        Err(StoreError::Conflict {
            code: "last_owner",
            ..
        })
    )
}

/// The owners of a workspace, by user id.
async fn owners(store: &Store, workspace: &str) -> Result<Vec<String>, StoreError> {
    Ok(store
        .members(workspace)
        .await?
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .map(|m| m.user_id)
        .collect())
}

/// Two owners, each demoting (then each leaving) at the same moment, round
/// after round: exactly one of the two is refused as the last owner, and
/// one owner always remains.
///
/// On Postgres the pool has many connections, so both transactions are
/// open at once and it is the workspace row lock (`lock_workspace`) that
/// makes the second count the owners only after the first committed. On
/// SQLite the pool has a single connection: the two transactions cannot
/// overlap, the second starts after the first committed, and the refusal
/// comes from the guard's owner count alone (the lock is not exercised).
#[tokio::test]
async fn concurrent_demotions_and_departures_keep_an_owner() -> TestResult {
    on_both(|store| async move {
        let (ann, bob, team) = ann_bob_and_team(&store).await?;
        let as_user = |id: &str| Meta::system().with_actor(ActorKind::User, id);
        let join_as_owner = |user: User, token: String| {
            let (store, team, ann) = (store.clone(), team.clone(), ann.id.clone());
            async move {
                store
                    .create_invitation(
                        &team,
                        &user.email,
                        Role::Owner,
                        &token,
                        3600,
                        &as_user(&ann),
                    )
                    .await?;
                store
                    .accept_invitation(&token, &user.id, &user.email, &as_user(&user.id))
                    .await?;
                Ok::<_, StoreError>(())
            }
        };
        join_as_owner(bob.clone(), "bob-joins".to_string()).await?;
        let people = [&ann, &bob];
        let (by_ann, by_bob) = (as_user(&ann.id), as_user(&bob.id));

        for round in 0..20 {
            let (a, b) = tokio::join!(
                store.set_role(&team, &ann.id, Role::Admin, &by_bob),
                store.set_role(&team, &bob.id, Role::Admin, &by_ann),
            );
            let refused = [refused_as_last_owner(&a), refused_as_last_owner(&b)];
            assert!(
                matches!((&a, &b), (Ok(()), Err(_)) | (Err(_), Ok(()))) && refused.contains(&true),
                "round {round}: {a:?} {b:?}"
            );
            let left = owners(&store, &team).await?;
            assert_eq!(left.len(), 1, "round {round}: owners {left:?}");
            let demoted = if refused[0] { &bob } else { &ann };
            assert!(!left.contains(&demoted.id), "round {round}");
            store
                .set_role(&team, &demoted.id, Role::Owner, &as_user(&left[0]))
                .await?;
        }

        for round in 0..20 {
            let (a, b) = tokio::join!(
                store.remove_member(&team, &ann.id, &by_ann),
                store.remove_member(&team, &bob.id, &by_bob),
            );
            let refused = [refused_as_last_owner(&a), refused_as_last_owner(&b)];
            assert!(
                matches!((&a, &b), (Ok(_), Err(_)) | (Err(_), Ok(_))) && refused.contains(&true),
                "round {round}: {a:?} {b:?}"
            );
            let left = owners(&store, &team).await?;
            assert_eq!(left.len(), 1, "round {round}: owners {left:?}");
            let gone = people[usize::from(refused[0])];
            assert_eq!(store.role_of(&team, &gone.id).await?, None, "round {round}");
            join_as_owner(gone.clone(), format!("rejoin-{round}")).await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_expired_invitation_adds_nobody() -> TestResult {
    on_both(|store| async move {
        let (_, bob, team) = ann_bob_and_team(&store).await?;
        // Expired a minute ago.
        store
            .create_invitation(
                &team,
                "bob@example.com",
                Role::Member,
                "expired",
                -60,
                &Meta::system(),
            )
            .await?;
        let memberships = count(&store, "memberships").await?;
        let accepted = store
            .accept_invitation("expired", &bob.id, "bob@example.com", &Meta::system())
            .await;
        assert!(
            matches!(
                &accepted,
                Err(StoreError::Conflict {
                    code: "invitation_expired",
                    message,
                }) if message.contains("expired")
            ),
            "{accepted:?}"
        );
        assert_eq!(store.role_of(&team, &bob.id).await?, None);
        assert_eq!(count(&store, "memberships").await?, memberships);
        assert_eq!(
            count(&store, "invitations WHERE accepted_at IS NOT NULL").await?,
            0,
            "the token was spent"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_removed() -> TestResult {
    on_both(|store| async move {
        store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?;
        let rows = count(&store, "audit_log").await?;
        assert!(rows >= 1);
        // SQLite: the append-only triggers. Postgres (the service role):
        // never granted, whatever the triggers would say.
        let expected = match store.backend() {
            Backend::Sqlite => "append-only",
            Backend::Postgres => "permission denied",
        };
        for statement in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
            let refused = sqlx::query(statement).execute(store.pool()).await;
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(expected), "{statement}: {message}");
        }
        assert_eq!(count(&store, "audit_log").await?, rows);
        Ok(())
    })
    .await
}
