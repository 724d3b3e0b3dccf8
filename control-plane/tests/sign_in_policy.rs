//! A workspace's sign-in policy in the store, on SQLite and on Postgres:
//! set, read back, carried by the decision data gateways read (at a higher
//! version), audited and emitted; "require SSO" needs an enabled SSO
//! connection; other workspace changes keep it in the pushed entry.

use wrnexus_control_plane::store::audit::Meta;
use wrnexus_control_plane::store::sign_in_policy::SignInPolicy;
use wrnexus_control_plane::store::sso_connections::ConnectionChange;
use wrnexus_control_plane::store::{Backend, Store, StoreError};
use wrnexus_policies::{Entry, EntryKey, Role, SignInMethods, VersionedEntry, WorkspaceStatus};

mod common;

use common::{TestResult, on_both};

/// Rows of `action` in the audit log, and events of that type.
async fn recorded(store: &Store, action: &str) -> Result<(i64, i64), sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT set_config('wrnexus.system', 'on', true)")
            .execute(&mut *tx)
            .await?;
    }
    let audited = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&mut *tx)
        .await?;
    let emitted = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE event_type = $1")
        .bind(action)
        .fetch_one(&mut *tx)
        .await?;
    Ok((audited, emitted))
}

/// The workspace entry a gateway reads for `user_id` in `workspace_id`.
async fn workspace_entry(
    store: &Store,
    session_id: &str,
    user_id: &str,
    workspace_id: &str,
) -> TestResult<VersionedEntry> {
    let data = store
        .decision_data(session_id, user_id, workspace_id, None)
        .await?;
    let key = EntryKey::Workspace(workspace_id.to_string()).cache_key();
    Ok(data
        .entries
        .get(&key)
        .cloned()
        .ok_or("no workspace entry")?)
}

fn connection(enabled: bool) -> ConnectionChange {
    ConnectionChange {
        issuer: "https://idp.example.com".into(),
        client_id: "wrnexus".into(),
        client_secret_sealed: Some("sealed".into()),
        allowed_domains: Vec::new(),
        default_role: Role::Member,
        enabled,
    }
}

#[tokio::test]
async fn the_sign_in_policy_is_set_pushed_audited_and_guarded() -> TestResult {
    on_both(|store| async move {
        let meta = Meta::system();
        let ann = store.sign_up("ann@example.com", "hash", &meta).await?;
        let team = store
            .create_team_workspace(&ann.user.id, "Team", &meta)
            .await?;
        let session = store.sign_in(&ann.user.id, &team.id, 3600, &meta).await?;
        // A new workspace allows every method, any age.
        let open = store.sign_in_policy(&team.id).await?;
        assert_eq!(open.methods, SignInMethods::ALL);
        assert_eq!(open.max_session_age_secs, None);
        let before = workspace_entry(&store, &session.id, &ann.user.id, &team.id).await?;

        // Passwords out, an hour at most.
        let strict = SignInPolicy {
            methods: SignInMethods::parse_list("oidc,sso")?,
            max_session_age_secs: Some(3600),
        };
        assert_eq!(
            store.set_sign_in_policy(&team.id, strict, &meta).await?,
            strict
        );
        assert_eq!(store.sign_in_policy(&team.id).await?, strict);
        let after = workspace_entry(&store, &session.id, &ann.user.id, &team.id).await?;
        assert!(
            after.version > before.version,
            "the entry must outrank the old one"
        );
        assert_eq!(
            after.entry,
            Entry::Workspace {
                status: WorkspaceStatus::Active,
                plan: "free".into(),
                sign_in_methods: strict.methods,
                max_session_age_secs: Some(3600),
            }
        );
        let action = "workspace.sign_in_policy.updated";
        assert_eq!(recorded(&store, action).await?, (1, 1));

        // Requiring SSO without a connection would lock everyone out.
        let require_sso = SignInPolicy {
            methods: SignInMethods::SSO_ONLY,
            max_session_age_secs: None,
        };
        let refused = store.set_sign_in_policy(&team.id, require_sso, &meta).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Conflict {
                    code: "sso_connection_missing",
                    ..
                })
            ),
            "{refused:?}"
        );
        // ... or with a disabled one.
        store
            .put_sso_connection(&team.id, connection(false), &meta)
            .await?;
        let refused = store.set_sign_in_policy(&team.id, require_sso, &meta).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{refused:?}"
        );
        assert_eq!(
            store.sign_in_policy(&team.id).await?,
            strict,
            "nothing changed"
        );
        assert_eq!(recorded(&store, action).await?, (1, 1));

        store
            .put_sso_connection(&team.id, connection(true), &meta)
            .await?;
        store
            .set_sign_in_policy(&team.id, require_sso, &meta)
            .await?;
        assert!(store.sign_in_policy(&team.id).await?.requires_sso());
        assert_eq!(recorded(&store, action).await?, (2, 2));

        // A suspension pushes the entry again: with the policy, not without.
        store
            .set_workspace_status(&team.id, WorkspaceStatus::Suspended, &meta)
            .await?;
        let entry = workspace_entry(&store, &session.id, &ann.user.id, &team.id).await?;
        assert!(matches!(
            entry.entry,
            Entry::Workspace {
                status: WorkspaceStatus::Suspended,
                sign_in_methods: SignInMethods::SSO_ONLY,
                ..
            }
        ));

        // Bad input changes nothing.
        let empty = SignInPolicy {
            methods: SignInMethods::NONE,
            max_session_age_secs: None,
        };
        let short = SignInPolicy {
            methods: SignInMethods::ALL,
            max_session_age_secs: Some(60),
        };
        for bad in [empty, short] {
            let refused = store.set_sign_in_policy(&team.id, bad, &meta).await;
            assert!(
                matches!(refused, Err(StoreError::Invalid { .. })),
                "{refused:?}"
            );
        }
        assert!(store.sign_in_policy(&team.id).await?.requires_sso());
        Ok(())
    })
    .await
}
