//! The linking rules on SQLite: workspace connections (proven and allowed
//! domains, just-in-time membership), instance providers, refusals, and
//! the connection, attempt and back-channel logout records around them.

use super::*;
use crate::push::Pusher;
use crate::store::sessions::{IdpSession, SignedInWith};
use crate::store::sqlite_url;
use crate::store::sso_attempts::Attempt;
use crate::store::sso_connections::ConnectionChange;
use crate::store::sso_logout::IdpLogout;
use wrnexus_contract::ProblemCode;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ISSUER: &str = "https://idp.corp.example";

async fn store(dir: &tempfile::TempDir) -> Result<Store, StoreError> {
    Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), Pusher::none()).await
}

async fn count(
    store: &Store,
    workspace_id: &str,
    sql: &str,
    name: &str,
) -> Result<i64, StoreError> {
    let mut tx = store.read(Scope::workspace(workspace_id)).await?;
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(workspace_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?)
}

async fn audited(store: &Store, workspace_id: &str, action: &str) -> Result<i64, StoreError> {
    count(
        store,
        workspace_id,
        "SELECT COUNT(*) FROM audit_log WHERE workspace_id = $1 AND action = $2",
        action,
    )
    .await
}

async fn emitted(store: &Store, workspace_id: &str, event: &str) -> Result<i64, StoreError> {
    count(
        store,
        workspace_id,
        "SELECT COUNT(*) FROM webhook_events WHERE workspace_id = $1 AND event_type = $2",
        event,
    )
    .await
}

/// A team workspace (the owner's personal one is enough here) with a
/// connection allowing `allowed`.
async fn connected(store: &Store, allowed: &[&str]) -> Result<Connection, StoreError> {
    let owner = store
        .sign_up("owner@team.example", "hash", &Meta::system())
        .await?;
    let saved = store
        .put_sso_connection(
            &owner.workspace_id,
            ConnectionChange {
                issuer: ISSUER.to_string(),
                client_id: "client".to_string(),
                client_secret_sealed: Some("v1:sealed".to_string()),
                allowed_domains: allowed.iter().map(|d| d.to_string()).collect(),
                default_role: Role::Viewer,
                enabled: true,
            },
            &Meta::system(),
        )
        .await?;
    assert!(saved.created);
    Ok(saved.connection)
}

async fn verify_domain(store: &Store, workspace_id: &str, domain: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_domains (id, workspace_id, domain, token, verified_at, created_at) \
         VALUES ($1, $2, $3, 't', 1, 1)",
    )
    .bind(super::super::new_id())
    .bind(workspace_id)
    .bind(domain)
    .execute(store.pool())
    .await?;
    Ok(())
}

fn who(subject: &str, email: &str, verified: bool) -> ProviderIdentity {
    ProviderIdentity {
        issuer: ISSUER.to_string(),
        subject: subject.to_string(),
        email: Some(email.to_string()),
        email_verified: verified,
    }
}

fn refused(e: &StoreError) -> &'static str {
    match e {
        StoreError::Forbidden { code, .. } | StoreError::Conflict { code, .. } => code,
        _ => "other",
    }
}

#[tokio::test]
async fn a_new_person_at_an_allowed_domain_joins_just_in_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let c = connected(&store, &["corp.example"]).await?;
    let first = store
        .sso_link(
            &who("s1", "Ann@Corp.Example", true),
            Some(&c),
            &Meta::system(),
        )
        .await?;
    assert!(first.created);
    assert_eq!(first.joined, Some(Role::Viewer));
    assert_eq!(first.user.email, "ann@corp.example");
    // Only listed as allowed, not proven: the provider's word is not enough.
    assert!(!first.user.email_verified);
    assert!(!crate::password::verify(
        "anything",
        &first.user.password_hash
    ));
    assert_eq!(
        store.role_of(&c.workspace_id, &first.user.id).await?,
        Some(Role::Viewer)
    );
    assert_eq!(
        audited(&store, &c.workspace_id, "sso.member.joined").await?,
        1
    );
    assert_eq!(
        emitted(&store, &c.workspace_id, "sso.member.joined").await?,
        1
    );
    // The same identity again: the same person, no second join.
    let again = store
        .sso_link(
            &who("s1", "ann@corp.example", true),
            Some(&c),
            &Meta::system(),
        )
        .await?;
    assert_eq!(again.user.id, first.user.id);
    assert!(!again.created);
    assert_eq!(again.joined, None);
    assert_eq!(
        audited(&store, &c.workspace_id, "sso.member.joined").await?,
        1
    );
    Ok(())
}

#[tokio::test]
async fn workspace_connections_refuse_unverified_and_foreign_emails() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let c = connected(&store, &["corp.example"]).await?;
    let e = store
        .sso_link(
            &who("s1", "ann@corp.example", false),
            Some(&c),
            &Meta::system(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::EmailUnverified.as_str());
    let e = store
        .sso_link(
            &who("s2", "bob@elsewhere.example", true),
            Some(&c),
            &Meta::system(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::EmailDomainNotAllowed.as_str());
    // Linked already (through an instance provider of the same issuer):
    // still no way into the workspace at a foreign domain.
    let linked = store
        .sso_link(
            &who("s3", "gil@elsewhere.example", true),
            None,
            &Meta::system(),
        )
        .await?;
    let e = store
        .sso_link(
            &who("s3", "gil@elsewhere.example", true),
            Some(&c),
            &Meta::system(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::EmailDomainNotAllowed.as_str());
    assert_eq!(store.role_of(&c.workspace_id, &linked.user.id).await?, None);
    Ok(())
}

#[tokio::test]
async fn existing_accounts_are_linked_only_at_a_proven_domain() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let c = connected(&store, &["allowed.example"]).await?;
    store
        .sign_up("cy@allowed.example", "hash", &Meta::system())
        .await?;
    let e = store
        .sso_link(
            &who("s1", "cy@allowed.example", true),
            Some(&c),
            &Meta::system(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::AccountExists.as_str());

    verify_domain(&store, &c.workspace_id, "proven.example").await?;
    let squatted = store
        .sign_up("dee@proven.example", "squatter-hash", &Meta::system())
        .await?;
    let linked = store
        .sso_link(
            &who("s2", "dee@proven.example", true),
            Some(&c),
            &Meta::system(),
        )
        .await?;
    assert_eq!(linked.user.id, squatted.user.id);
    assert!(!linked.created);
    assert_eq!(linked.joined, Some(Role::Viewer));
    // Nobody proved the address before: the password made without it ends.
    assert!(linked.user.email_verified);
    assert_eq!(linked.user.password_hash, NO_PASSWORD);
    Ok(())
}

#[tokio::test]
async fn instance_providers_link_by_subject_never_by_email() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let meta = Meta::system();
    store.sign_up("eve@mail.example", "hash", &meta).await?;
    let e = store
        .sso_link(&who("g1", "eve@mail.example", true), None, &meta)
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::AccountExists.as_str());

    let made = store
        .sso_link(&who("g2", "fay@mail.example", false), None, &meta)
        .await?;
    assert!(made.created);
    assert_eq!(made.joined, None);
    assert!(!made.user.email_verified);
    let again = store
        .sso_link(&who("g2", "other@mail.example", true), None, &meta)
        .await?;
    assert_eq!(again.user.id, made.user.id);

    store.disable_user(&made.user.id, &meta).await?;
    let e = store
        .sso_link(&who("g2", "fay@mail.example", true), None, &meta)
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::UserDisabled.as_str());
    let mut nameless = who("g3", "", true);
    nameless.email = None;
    let e = store.sso_link(&nameless, None, &meta).await.unwrap_err();
    assert_eq!(refused(&e), ProblemCode::SsoFailed.as_str());
    Ok(())
}

#[tokio::test]
async fn connections_keep_their_secret_and_stay_while_sso_is_required() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let c = connected(&store, &[]).await?;
    let w = c.workspace_id.clone();
    assert_eq!(audited(&store, &w, "sso.connection.created").await?, 1);
    assert_eq!(emitted(&store, &w, "sso.connection.created").await?, 1);
    let change = ConnectionChange {
        issuer: ISSUER.to_string(),
        client_id: "client-2".to_string(),
        client_secret_sealed: None,
        allowed_domains: vec!["a.example".into(), "b.example".into()],
        default_role: Role::Member,
        enabled: true,
    };
    let saved = store
        .put_sso_connection(&w, change.clone(), &Meta::system())
        .await?;
    assert!(!saved.created);
    assert_eq!(saved.connection.id, c.id);
    assert_eq!(saved.connection.client_secret_sealed, "v1:sealed");
    let read = store.sso_connection(&w).await?.ok_or("connection")?;
    assert_eq!(read.allowed_domains, vec!["a.example", "b.example"]);
    assert_eq!(read.client_id, "client-2");
    assert!(read.enabled);
    assert_eq!(
        store
            .sso_connection_by_id(&c.id)
            .await?
            .map(|c| c.workspace_id),
        Some(w.clone())
    );
    assert_eq!(emitted(&store, &w, "sso.connection.updated").await?, 1);

    sqlx::query("UPDATE workspaces SET sign_in_methods = 'sso' WHERE id = $1")
        .bind(&w)
        .execute(store.pool())
        .await?;
    let e = store
        .delete_sso_connection(&w, &Meta::system())
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::SsoConnectionInUse.as_str());
    let off = ConnectionChange {
        enabled: false,
        ..change
    };
    let e = store
        .put_sso_connection(&w, off, &Meta::system())
        .await
        .unwrap_err();
    assert_eq!(refused(&e), ProblemCode::SsoConnectionInUse.as_str());
    sqlx::query("UPDATE workspaces SET sign_in_methods = 'password,sso' WHERE id = $1")
        .bind(&w)
        .execute(store.pool())
        .await?;
    store.delete_sso_connection(&w, &Meta::system()).await?;
    assert!(store.sso_connection(&w).await?.is_none());
    assert_eq!(emitted(&store, &w, "sso.connection.deleted").await?, 1);
    Ok(())
}

#[tokio::test]
async fn attempts_are_taken_once_and_only_in_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let attempt = Attempt {
        provider: "instance:google".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        return_to: "/app".into(),
        expires_at: now() + 600,
    };
    store.insert_sso_attempt("h1", &attempt).await?;
    let taken = store.take_sso_attempt("h1").await?.ok_or("attempt")?;
    assert_eq!(taken.return_to, "/app");
    assert!(store.take_sso_attempt("h1").await?.is_none());
    let late = Attempt {
        expires_at: now() - 1,
        ..attempt
    };
    store.insert_sso_attempt("h2", &late).await?;
    assert!(store.take_sso_attempt("h2").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_back_channel_logout_ends_the_sessions_it_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let c = connected(&store, &["corp.example"]).await?;
    let w = c.workspace_id.clone();
    let meta = Meta::system();
    let ann = store
        .sso_link(&who("s1", "ann@corp.example", true), Some(&c), &meta)
        .await?
        .user;
    let through = |sid: &str, workspace: Option<&str>| SignedInWith {
        amr: vec!["sso".into()],
        auth_time: now(),
        sso_workspace_id: workspace.map(str::to_string),
        idp: Some(IdpSession {
            issuer: ISSUER.into(),
            subject: "s1".into(),
            sid: Some(sid.into()),
        }),
    };
    let one = store
        .sign_in_with(&ann.id, &w, 3600, &meta, &through("sid-1", Some(&w)))
        .await?;
    let two = store
        .sign_in_with(&ann.id, &w, 3600, &meta, &through("sid-2", Some(&w)))
        .await?;
    // The same provider session, but signed in through another door.
    let instance = store
        .sign_in_with(&ann.id, &w, 3600, &meta, &through("sid-1", None))
        .await?;
    let logout = IdpLogout {
        issuer: ISSUER.into(),
        sid: Some("sid-1".into()),
        subject: None,
        workspace_id: Some(w.clone()),
        source: c.id.clone(),
    };
    assert_eq!(store.idp_logout(&logout, &meta).await?, 1);
    let revoked = |s: Option<crate::store::sessions::Session>| s.is_some_and(|s| s.revoked);
    assert!(revoked(store.session(&one.id).await?));
    assert!(!revoked(store.session(&two.id).await?));
    assert!(!revoked(store.session(&instance.id).await?));
    assert_eq!(audited(&store, &w, "sso.logout").await?, 1);
    assert_eq!(emitted(&store, &w, "sso.logout").await?, 1);
    // By subject: every session of it through this connection.
    let by_subject = IdpLogout {
        sid: None,
        subject: Some("s1".into()),
        ..logout
    };
    assert_eq!(store.idp_logout(&by_subject, &meta).await?, 1);
    assert!(revoked(store.session(&two.id).await?));
    assert!(!revoked(store.session(&instance.id).await?));
    Ok(())
}
