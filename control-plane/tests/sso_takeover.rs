//! Accounts made through a connection's allowed domains, on SQLite and on
//! Postgres: a domain only listed as allowed (which any owner may list)
//! does not vouch for the address, so the account stays unverified; the
//! workspace that proves the domain later takes such an account over (its
//! other identities unlinked, its sessions and keys ended), while a
//! verified account is only linked; a password reset of an unverified
//! account unlinks its identities.

mod common;

use common::TestResult;
use sqlx::{AnyPool, Row};
use std::future::Future;
use wrnexus_control_plane::config::ControlPlaneConfig;
use wrnexus_control_plane::push::Pusher;
use wrnexus_control_plane::store::audit::{ActorKind, Meta};
use wrnexus_control_plane::store::sso_connections::{Connection, ConnectionChange};
use wrnexus_control_plane::store::sso_domain_checks::CheckOutcome;
use wrnexus_control_plane::store::sso_identities::{Linked, NO_PASSWORD, ProviderIdentity};
use wrnexus_control_plane::store::{Store, StoreError, sqlite_url};
use wrnexus_policies::Role;

const ATTACKER_IDP: &str = "https://idp.attacker.example";
const VICTIM_IDP: &str = "https://idp.victimcorp.example";
const CEO: &str = "ceo@victimcorp.example";

/// Run `suite` with a store and a pool that reads every row (the mail
/// outbox included): on SQLite, then on Postgres.
async fn on_both<F, Fut>(suite: F) -> TestResult
where
    F: Fn(Store, AnyPool, ControlPlaneConfig) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let dir = tempfile::tempdir()?;
    let url = sqlite_url(&dir.path().join("t.sqlite"));
    let store = Store::connect(&url, Pusher::none()).await?;
    let pool = store.pool().clone();
    suite(store, pool, ControlPlaneConfig::new(&url))
        .await
        .map_err(|e| format!("sqlite: {e}"))?;
    if let Some((owner, service)) = common::postgres().await? {
        let store = Store::connect_without_migrating(&service, Pusher::none()).await?;
        let pool = AnyPool::connect(&owner).await?;
        suite(store, pool, ControlPlaneConfig::new(&service))
            .await
            .map_err(|e| format!("postgres: {e}"))?;
    }
    Ok(())
}

/// A new owner's personal workspace with a connection to `issuer`
/// allowing `allowed`.
async fn connected(
    store: &Store,
    owner: &str,
    issuer: &str,
    allowed: &[&str],
) -> Result<Connection, StoreError> {
    let made = store.sign_up(owner, "hash", &Meta::system()).await?;
    let change = ConnectionChange {
        issuer: issuer.to_string(),
        client_id: "client".to_string(),
        client_secret_sealed: Some("v1:sealed".to_string()),
        allowed_domains: allowed.iter().map(|d| d.to_string()).collect(),
        default_role: Role::Member,
        enabled: true,
    };
    Ok(store
        .put_sso_connection(&made.workspace_id, change, &Meta::system())
        .await?
        .connection)
}

/// `domain` proven by `workspace_id` (its record found).
async fn prove(store: &Store, workspace_id: &str, domain: &str) -> TestResult {
    let added = store
        .add_sso_domain(workspace_id, domain, &Meta::system())
        .await?;
    let (now, _) = store
        .record_sso_domain_check(
            workspace_id,
            &added.id,
            &CheckOutcome::Found,
            &Meta::system(),
        )
        .await?;
    assert_eq!(now.status, "verified");
    Ok(())
}

fn who(issuer: &str, subject: &str) -> ProviderIdentity {
    ProviderIdentity {
        issuer: issuer.to_string(),
        subject: subject.to_string(),
        email: Some(CEO.to_string()),
        email_verified: true,
    }
}

async fn sign_in_through(
    store: &Store,
    issuer: &str,
    subject: &str,
    connection: &Connection,
) -> Result<Linked, StoreError> {
    store
        .sso_link(&who(issuer, subject), Some(connection), &Meta::system())
        .await
}

fn code(e: &StoreError) -> &'static str {
    match e {
        StoreError::Forbidden { code, .. } | StoreError::Conflict { code, .. } => code,
        _ => "other",
    }
}

async fn identities(pool: &AnyPool, user_id: &str) -> TestResult<Vec<String>> {
    let rows = sqlx::query("SELECT issuer FROM sso_identities WHERE user_id = $1 ORDER BY issuer")
        .bind(user_id)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("issuer"))
        .collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn a_proven_domain_takes_over_an_account_an_allowed_domain_made() -> TestResult {
    on_both(|store, pool, _| async move {
        // Any owner may list any domain as allowed, without proving it.
        let attacker = connected(
            &store,
            "mallory@attacker.example",
            ATTACKER_IDP,
            &["victimcorp.example"],
        )
        .await?;
        let made = sign_in_through(&store, ATTACKER_IDP, "fake-ceo", &attacker).await?;
        assert!(made.created);
        assert!(
            !made.user.email_verified,
            "the provider's word at an allowed domain is not enough"
        );
        let user = made.user.clone();
        let personal = user.last_workspace_id.clone().ok_or("personal workspace")?;
        let session = store
            .sign_in(&user.id, &attacker.workspace_id, 3600, &Meta::system())
            .await?;
        let by = Meta::system().with_actor(ActorKind::User, &user.id);
        let (key, _) = store
            .create_api_key(&personal, "planted", Role::Member, None, None, &by)
            .await?;

        // VictimCorp proves its domain; the real CEO signs in through it.
        let victim = connected(&store, "it@victim-admin.example", VICTIM_IDP, &[]).await?;
        prove(&store, &victim.workspace_id, "victimcorp.example").await?;
        let real = sign_in_through(&store, VICTIM_IDP, "real-ceo", &victim).await?;
        assert_eq!(real.user.id, user.id);
        assert!(!real.created);
        assert!(real.user.email_verified);
        assert_eq!(real.user.password_hash, NO_PASSWORD);
        assert_eq!(identities(&pool, &user.id).await?, vec![VICTIM_IDP]);
        let ended = store.session(&session.id).await?.ok_or("session")?;
        assert!(ended.revoked);
        let keys = store.api_keys(&personal).await?;
        let planted = keys.iter().find(|k| k.id == key.id).ok_or("key")?;
        assert!(planted.revoked_at.is_some());

        // The attacker's identity no longer signs in.
        let refused = sign_in_through(&store, ATTACKER_IDP, "fake-ceo", &attacker)
            .await
            .err()
            .ok_or("the attacker signed in")?;
        assert_eq!(code(&refused), "account_exists");
        // The real one still does.
        let again = sign_in_through(&store, VICTIM_IDP, "real-ceo", &victim).await?;
        assert_eq!(again.user.id, user.id);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_verified_account_is_linked_and_keeps_its_identities() -> TestResult {
    on_both(|store, pool, _| async move {
        let victim = connected(&store, "it@victim-admin.example", VICTIM_IDP, &[]).await?;
        prove(&store, &victim.workspace_id, "victimcorp.example").await?;
        let made = sign_in_through(&store, VICTIM_IDP, "ceo-1", &victim).await?;
        assert!(made.created);
        assert!(made.user.email_verified, "a proven domain vouches");
        let session = store
            .sign_in(&made.user.id, &victim.workspace_id, 3600, &Meta::system())
            .await?;
        // The same provider under another subject: linked, nothing ended.
        let second = sign_in_through(&store, VICTIM_IDP, "ceo-2", &victim).await?;
        assert_eq!(second.user.id, made.user.id);
        assert!(!second.created);
        let both = identities(&pool, &made.user.id).await?;
        assert_eq!(both.len(), 2);
        let kept = store.session(&session.id).await?.ok_or("session")?;
        assert!(!kept.revoked);
        assert!(
            sign_in_through(&store, VICTIM_IDP, "ceo-1", &victim)
                .await
                .is_ok()
        );
        Ok(())
    })
    .await
}

/// The token of the one reset link mailed to `email` that is not in `seen`.
async fn reset_token(pool: &AnyPool, email: &str, seen: &[String]) -> TestResult<String> {
    let rows = sqlx::query("SELECT data FROM mail_outbox WHERE template = $1 AND recipient = $2")
        .bind("reset_password")
        .bind(email)
        .fetch_all(pool)
        .await?;
    let mut fresh = Vec::new();
    for row in rows {
        let data: serde_json::Value = serde_json::from_str(&row.try_get::<String, _>("data")?)?;
        let link = data["link"].as_str().ok_or("no link")?;
        let token = link.split_once("token=").ok_or("no token")?.1.to_string();
        if !seen.contains(&token) {
            fresh.push(token);
        }
    }
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    Ok(fresh.remove(0))
}

#[tokio::test]
async fn a_reset_of_an_unverified_account_unlinks_its_identities() -> TestResult {
    on_both(|store, pool, config| async move {
        let attacker = connected(
            &store,
            "mallory@attacker.example",
            ATTACKER_IDP,
            &["victimcorp.example"],
        )
        .await?;
        let made = sign_in_through(&store, ATTACKER_IDP, "fake-ceo", &attacker).await?;
        assert!(!made.user.email_verified);
        // The address's owner takes the account back through the mail.
        store
            .request_password_reset(CEO, &config, &Meta::system())
            .await?;
        let first = reset_token(&pool, CEO, &[]).await?;
        let reset = store
            .reset_password(&first, "new-hash", &config, &Meta::system())
            .await?;
        assert_eq!(reset.identities_unlinked, 1);
        assert!(identities(&pool, &made.user.id).await?.is_empty());
        let refused = sign_in_through(&store, ATTACKER_IDP, "fake-ceo", &attacker)
            .await
            .err()
            .ok_or("the attacker signed in")?;
        assert_eq!(code(&refused), "account_exists");

        // A reset of a verified account leaves its identities.
        let user = store.user(&made.user.id).await?.ok_or("user")?;
        assert!(user.email_verified);
        let victim = connected(&store, "it@victim-admin.example", VICTIM_IDP, &[]).await?;
        prove(&store, &victim.workspace_id, "victimcorp.example").await?;
        sign_in_through(&store, VICTIM_IDP, "real-ceo", &victim).await?;
        store
            .request_password_reset(CEO, &config, &Meta::system())
            .await?;
        let token = reset_token(&pool, CEO, &[first]).await?;
        let reset = store
            .reset_password(&token, "newer-hash", &config, &Meta::system())
            .await?;
        assert_eq!(reset.identities_unlinked, 0);
        assert_eq!(identities(&pool, &made.user.id).await?, vec![VICTIM_IDP]);
        Ok(())
    })
    .await
}
