//! Domains on SQLite: one verification across workspaces, refusals, the
//! unverifying after failures in a row, the conditional claim, the limit
//! of domains and the expiry of claims never verified.

use super::*;
use crate::push::Pusher;
use crate::store::sqlite_url;
use crate::store::sso_domain_checks::{CheckChange, CheckOutcome, FAILURES_TO_UNVERIFY};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn store(dir: &tempfile::TempDir) -> Result<Store, StoreError> {
    Store::connect(&sqlite_url(&dir.path().join("t.sqlite")), Pusher::none()).await
}

/// A new person's personal workspace.
async fn workspace(store: &Store, email: &str) -> Result<String, StoreError> {
    Ok(store
        .sign_up(email, "hash", &Meta::system())
        .await?
        .workspace_id)
}

async fn events(store: &Store, workspace_id: &str, event_type: &str) -> Result<i64, StoreError> {
    let mut tx = store.read(Scope::workspace(workspace_id)).await?;
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_events WHERE workspace_id = $1 AND event_type = $2",
    )
    .bind(workspace_id)
    .bind(event_type)
    .fetch_one(&mut *tx)
    .await?)
}

async fn audited(store: &Store, workspace_id: &str, action: &str) -> Result<i64, StoreError> {
    let mut tx = store.read(Scope::workspace(workspace_id)).await?;
    Ok(
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE workspace_id = $1 AND action = $2",
        )
        .bind(workspace_id)
        .bind(action)
        .fetch_one(&mut *tx)
        .await?,
    )
}

fn code(e: &StoreError) -> &'static str {
    match e {
        StoreError::Conflict { code, .. } | StoreError::Invalid { code, .. } => code,
        _ => "other",
    }
}

#[tokio::test]
async fn a_domain_is_verified_by_one_workspace_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let meta = Meta::system();
    let a = workspace(&store, "a@example.com").await?;
    let b = workspace(&store, "b@example.com").await?;
    let c = workspace(&store, "c@example.com").await?;

    let in_a = store.add_sso_domain(&a, "Example.COM.", &meta).await?;
    assert_eq!(in_a.domain, "example.com");
    assert_eq!(in_a.status, "pending");
    assert_eq!(in_a.record.name, "_wrnexus-challenge.example.com");
    assert_eq!(in_a.record.record_type, "TXT");
    let token = in_a
        .record
        .value
        .strip_prefix("wrnexus-domain-verification=")
        .ok_or("value prefix")?;
    assert_eq!(URL_SAFE_NO_PAD.decode(token)?.len(), 32);
    // Two workspaces may claim it while neither has proven it.
    let in_b = store.add_sso_domain(&b, "example.com", &meta).await?;
    assert_ne!(in_a.record.value, in_b.record.value);
    let again = store.add_sso_domain(&a, "EXAMPLE.com", &meta).await;
    assert_eq!(again.err().map(|e| code(&e)), Some("domain_exists"));

    let (verified, change) = store
        .record_sso_domain_check(&a, &in_a.id, &CheckOutcome::Found, &meta)
        .await?;
    assert_eq!(
        (verified.status, change),
        ("verified", CheckChange::Verified)
    );
    assert!(verified.check_error.is_none());
    assert_eq!(events(&store, &a, "sso.domain.verified").await?, 1);
    assert_eq!(audited(&store, &a, "sso.domain.verified").await?, 1);

    // B's proof comes second: refused, recorded, B's row still pending.
    let second = store
        .record_sso_domain_check(&b, &in_b.id, &CheckOutcome::Found, &meta)
        .await;
    assert_eq!(second.err().map(|e| code(&e)), Some("domain_taken"));
    let in_b = store.sso_domain(&b, &in_b.id).await?;
    assert_eq!(in_b.status, "pending");
    assert!(
        in_b.check_error
            .is_some_and(|e| e.contains("another workspace"))
    );
    // A third workspace cannot even add it now, and is not told whose it is.
    let taken = store.add_sso_domain(&c, "example.com", &meta).await;
    let message = taken
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(taken.err().map(|e| code(&e)), Some("domain_taken"));
    assert!(!message.contains(&a), "{message}");

    assert_eq!(
        store.workspace_for_verified_domain("example.com").await?,
        Some(a.clone())
    );
    assert_eq!(
        store.workspace_for_verified_domain("other.com").await?,
        None
    );
    // No connection yet: no home-realm discovery.
    assert_eq!(store.sso_workspace_for_domain("example.com").await?, None);
    sqlx::query(
        "INSERT INTO sso_connections (id, workspace_id, issuer, client_id, client_secret_sealed, \
         created_at, updated_at) VALUES ('conn1', $1, 'https://idp.example.com', 'c', 'v1:x', 0, 0)",
    )
    .bind(&a)
    .execute(store.pool())
    .await?;
    assert_eq!(
        store.sso_workspace_for_domain("example.com").await?,
        Some(a.clone())
    );

    // Once A removes it, B may prove it.
    store.remove_sso_domain(&a, &in_a.id, &meta).await?;
    assert_eq!(events(&store, &a, "sso.domain.removed").await?, 1);
    let (in_b, change) = store
        .record_sso_domain_check(&b, &in_b.id, &CheckOutcome::Found, &meta)
        .await?;
    assert_eq!((in_b.status, change), ("verified", CheckChange::Verified));
    // Another workspace's domain is not found.
    let foreign = store.remove_sso_domain(&a, &in_b.id, &meta).await;
    assert!(matches!(foreign, Err(StoreError::NotFound { .. })));
    Ok(())
}

#[tokio::test]
async fn malformed_domains_are_refused_naming_the_field() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let a = workspace(&store, "a@example.com").await?;
    for bad in ["com", "*.example.com", "https://example.com", "", "a@b.com"] {
        match store.add_sso_domain(&a, bad, &Meta::system()).await {
            Err(StoreError::Invalid { code, field, .. }) => {
                assert_eq!((code, field), ("invalid_domain", "domain"), "{bad}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(store.sso_domains(&a).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_verified_domain_is_unverified_after_failures_in_a_row() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let meta = Meta::system();
    let a = workspace(&store, "a@example.com").await?;
    let d = store.add_sso_domain(&a, "example.org", &meta).await?;
    store
        .record_sso_domain_check(&a, &d.id, &CheckOutcome::Found, &meta)
        .await?;
    let missing = CheckOutcome::Missing("no TXT record found".to_string());
    // A failed lookup teaches nothing and does not count.
    let (now, change) = store
        .record_sso_domain_check(&a, &d.id, &CheckOutcome::Failed("timeout".into()), &meta)
        .await?;
    assert_eq!((now.failed_checks, change), (0, CheckChange::None));
    for n in 1..FAILURES_TO_UNVERIFY {
        let (now, change) = store
            .record_sso_domain_check(&a, &d.id, &missing, &meta)
            .await?;
        assert_eq!((now.status, now.failed_checks), ("verified", n));
        assert_eq!(change, CheckChange::None);
        assert_eq!(now.check_error.as_deref(), Some("no TXT record found"));
    }
    // Found again: the count starts over.
    store
        .record_sso_domain_check(&a, &d.id, &CheckOutcome::Found, &meta)
        .await?;
    for _ in 1..FAILURES_TO_UNVERIFY {
        store
            .record_sso_domain_check(&a, &d.id, &missing, &meta)
            .await?;
    }
    assert_eq!(store.sso_domain(&a, &d.id).await?.status, "verified");
    let (now, change) = store
        .record_sso_domain_check(&a, &d.id, &missing, &meta)
        .await?;
    assert_eq!((now.status, change), ("pending", CheckChange::Unverified));
    assert_eq!(events(&store, &a, "sso.domain.unverified").await?, 1);
    assert_eq!(audited(&store, &a, "sso.domain.unverified").await?, 1);
    assert_eq!(
        store.workspace_for_verified_domain("example.org").await?,
        None
    );
    Ok(())
}

#[tokio::test]
async fn due_domains_are_claimed_once_per_turn() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let meta = Meta::system();
    let a = workspace(&store, "a@example.com").await?;
    let b = workspace(&store, "b@example.com").await?;
    let one = store.add_sso_domain(&a, "one.example", &meta).await?;
    let two = store.add_sso_domain(&b, "two.example", &meta).await?;
    store
        .record_sso_domain_check(&b, &two.id, &CheckOutcome::Found, &meta)
        .await?;
    let t = now();
    // Never checked: due at once; checked just now: not yet.
    let claims = futures_util::future::join(
        store.claim_due_sso_domains(t - 3600, t - 60, 10),
        store.claim_due_sso_domains(t - 3600, t - 60, 10),
    )
    .await;
    let (first, second) = (claims.0?, claims.1?);
    let mut claimed: Vec<&str> = first.iter().chain(&second).map(|d| d.id.as_str()).collect();
    claimed.sort_unstable();
    assert_eq!(claimed, vec![one.id.as_str()], "claimed twice or wrongly");
    let due = first.iter().chain(&second).next().ok_or("claim")?;
    assert_eq!(
        (due.domain.as_str(), due.workspace_id.as_str()),
        ("one.example", a.as_str())
    );
    assert!(
        store
            .claim_due_sso_domains(t - 3600, t - 60, 10)
            .await?
            .is_empty()
    );
    // Their turn comes: the verified one by its interval, the pending one
    // by the shorter one.
    let later = t + 10;
    let due = store.claim_due_sso_domains(later - 3600, later, 10).await?;
    assert_eq!(due.len(), 1);
    assert_eq!(due.first().map(|d| d.id.as_str()), Some(one.id.as_str()));
    let due = store.claim_due_sso_domains(later, later, 10).await?;
    assert!(due.iter().any(|d| d.id == two.id), "{due:?}");
    // The limit holds.
    let much_later = later + 100;
    let due = store
        .claim_due_sso_domains(much_later, much_later, 1)
        .await?;
    assert_eq!(due.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_workspace_has_at_most_its_limit_of_domains() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let meta = Meta::system();
    let a = workspace(&store, "a@example.com").await?;
    for n in 0..MAX_DOMAINS {
        store
            .add_sso_domain(&a, &format!("d{n}.example"), &meta)
            .await?;
    }
    let over = store.add_sso_domain(&a, "one-more.example", &meta).await;
    let message = over
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(over.err().map(|e| code(&e)), Some("domain_limit"));
    assert!(message.contains("`domain`"), "{message}");
    assert_eq!(store.sso_domains(&a).await?.len(), 20);
    assert_eq!(audited(&store, &a, "sso.domain.added").await?, 20);
    // Another workspace has its own limit; a removal makes room.
    let b = workspace(&store, "b@example.com").await?;
    store.add_sso_domain(&b, "one-more.example", &meta).await?;
    let first = store.sso_domains(&a).await?.remove(0);
    store.remove_sso_domain(&a, &first.id, &meta).await?;
    store.add_sso_domain(&a, "one-more.example", &meta).await?;
    Ok(())
}

#[tokio::test]
async fn claims_never_verified_expire_after_a_week() -> TestResult {
    use crate::store::sso_domain_checks::PENDING_TTL_SECS;
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let meta = Meta::system();
    let a = workspace(&store, "a@example.com").await?;
    let stale = store.add_sso_domain(&a, "stale.example", &meta).await?;
    let fresh = store.add_sso_domain(&a, "fresh.example", &meta).await?;
    let lapsed = store.add_sso_domain(&a, "lapsed.example", &meta).await?;
    // Verified once, unverified since: it stays (and is re-checked).
    store
        .record_sso_domain_check(&a, &lapsed.id, &CheckOutcome::Found, &meta)
        .await?;
    sqlx::query("UPDATE sso_domains SET verified_at = NULL WHERE id = $1")
        .bind(&lapsed.id)
        .execute(store.pool())
        .await?;
    let week_ago = now() - PENDING_TTL_SECS - 1;
    for id in [&stale.id, &lapsed.id] {
        sqlx::query("UPDATE sso_domains SET created_at = $1 WHERE id = $2")
            .bind(week_ago)
            .bind(id)
            .execute(store.pool())
            .await?;
    }
    let cutoff = now() - PENDING_TTL_SECS;
    assert_eq!(
        store.expire_pending_sso_domains(cutoff, 16, &meta).await?,
        1
    );
    let mut left: Vec<String> = store
        .sso_domains(&a)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    left.sort();
    let mut want = vec![fresh.id.clone(), lapsed.id.clone()];
    want.sort();
    assert_eq!(left, want);
    assert_eq!(audited(&store, &a, "sso.domain.removed").await?, 1);
    assert_eq!(events(&store, &a, "sso.domain.removed").await?, 1);
    assert_eq!(
        store.expire_pending_sso_domains(cutoff, 16, &meta).await?,
        0
    );
    Ok(())
}
