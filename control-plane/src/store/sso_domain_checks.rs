//! Checking claimed domains: which are due (claimed by one worker at a time,
//! among several control planes, by moving `checked_at` forward in one
//! conditional UPDATE), and recording a check's outcome: verified (once,
//! across workspaces), still pending, or, after several definite failures
//! in a row, unverified — each change audited and sent as a webhook event.

use super::audit::{AuditRecord, Meta};
use super::sso_domains::{
    COLUMNS, SsoDomain, decode_check_error, domain_from_row, encode_check_error, record_removal,
    taken, verified_elsewhere,
};
use super::work::Scope;
use super::{Backend, Store, StoreError, is_unique_violation, now};
use serde_json::json;

/// How long a claim may stay pending, never verified, before it expires
/// (seven days): the re-check worker removes it.
pub const PENDING_TTL_SECS: i64 = 7 * 24 * 3600;

/// Definite failures in a row (the record is not there, or holds another
/// value) after which a verified domain is unverified.
pub const FAILURES_TO_UNVERIFY: i64 = 3;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The record holds the value.
    Found,
    /// The answer says the record is not there, or holds another value.
    Missing(String),
    /// The lookup failed (timeout, server failure): nothing was learnt, so
    /// it does not count towards unverifying.
    Failed(String),
}

/// A domain claimed for checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDomain {
    pub id: String,
    pub workspace_id: String,
    pub domain: String,
    pub token: String,
}

/// What recording a check changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckChange {
    None,
    Verified,
    Unverified,
}

impl Store {
    /// Remove up to `limit` claims added before `created_before` and never
    /// verified (pending since they were added; a domain verified once and
    /// unverified since stays, and is re-checked): each removal audited and
    /// emitted `sso.domain.removed` by `meta`'s actor (the worker: the
    /// system), with `expired: true`. How many were removed.
    #[tracing::instrument(name = "store.expire_pending_sso_domains", skip_all)]
    pub async fn expire_pending_sso_domains(
        &self,
        created_before: i64,
        limit: i64,
        meta: &Meta,
    ) -> Result<usize, StoreError> {
        let expired: Vec<(String, String)> = {
            let mut tx = self.read(Scope::system()).await?;
            sqlx::query_as(
                "SELECT d.id, d.workspace_id FROM sso_domains d \
                 WHERE d.verified_at IS NULL AND d.created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.workspace_id = d.workspace_id \
                 AND a.action = $2 AND a.target = d.id) \
                 ORDER BY d.created_at, d.id LIMIT $3",
            )
            .bind(created_before)
            .bind("sso.domain.verified")
            .bind(limit.max(1))
            .fetch_all(&mut *tx)
            .await?
        };
        let mut removed = 0;
        for (id, workspace_id) in expired {
            let mut work = self.work(Scope::workspace(&workspace_id), meta).await?;
            // Verified or removed meanwhile: left alone.
            let domain: Option<String> = sqlx::query_scalar(
                "DELETE FROM sso_domains WHERE id = $1 AND workspace_id = $2 \
                 AND verified_at IS NULL RETURNING domain",
            )
            .bind(&id)
            .bind(&workspace_id)
            .fetch_optional(&mut *work.tx)
            .await?;
            if let Some(domain) = domain {
                let detail = json!({ "domain": domain, "was_verified": false, "expired": true });
                record_removal(&mut work, &workspace_id, &id, &domain, detail).await?;
                removed += 1;
            }
            self.finish(work).await?;
        }
        Ok(removed)
    }

    /// Claim up to `limit` domains due a check: verified ones last checked
    /// before `verified_before`, pending ones before `pending_before`, never
    /// checked ones at once. Claiming moves their `checked_at` to now, so
    /// no other worker (of this or another control plane) claims them again
    /// before their next turn; Postgres skips rows another claim holds.
    #[tracing::instrument(name = "store.claim_due_sso_domains", skip_all)]
    pub async fn claim_due_sso_domains(
        &self,
        verified_before: i64,
        pending_before: i64,
        limit: i64,
    ) -> Result<Vec<DueDomain>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let due = "(checked_at IS NULL \
             OR (verified_at IS NOT NULL AND checked_at < $2) \
             OR (verified_at IS NULL AND checked_at < $3))";
        let claim = format!(
            "UPDATE sso_domains SET checked_at = $1 WHERE id IN (\
             SELECT id FROM sso_domains WHERE {due} \
             ORDER BY COALESCE(checked_at, 0), id LIMIT $4{lock}) \
             AND {due} RETURNING id, workspace_id, domain, token"
        );
        let mut tx = self.read(Scope::system()).await?;
        let rows: Vec<(String, String, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(claim))
                .bind(now())
                .bind(verified_before)
                .bind(pending_before)
                .bind(limit.max(1))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, workspace_id, domain, token)| DueDomain {
                id,
                workspace_id,
                domain,
                token,
            })
            .collect())
    }

    /// Record a check of a domain of `workspace_id` by `meta`'s actor (an
    /// owner's "verify now", or the worker as the system): the domain as it
    /// now stands, and what changed. Verifying a domain another workspace
    /// has verified meanwhile is refused (`domain_taken`) and recorded as a
    /// failed check.
    #[tracing::instrument(name = "store.record_sso_domain_check", skip_all)]
    pub async fn record_sso_domain_check(
        &self,
        workspace_id: &str,
        domain_id: &str,
        outcome: &CheckOutcome,
        meta: &Meta,
    ) -> Result<(SsoDomain, CheckChange), StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let select =
            format!("SELECT {COLUMNS} FROM sso_domains WHERE id = $1 AND workspace_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .bind(domain_id)
            .bind(workspace_id)
            .fetch_optional(&mut *work.tx)
            .await?
            .ok_or(StoreError::NotFound { what: "domain" })?;
        let current = domain_from_row(&row)?;
        let stored: Option<String> = sqlx::Row::try_get(&row, "check_error")?;
        let (failures, _) = decode_check_error(stored.as_deref());
        let at = now();
        let verified = current.verified_at.is_some();
        let mut taken_elsewhere = false;
        let (verified_at, check_error, change) = match outcome {
            CheckOutcome::Found if verified => (current.verified_at, None, CheckChange::None),
            CheckOutcome::Found => {
                if verified_elsewhere(&mut work, workspace_id, &current.domain).await? {
                    taken_elsewhere = true;
                    let error = encode_check_error(
                        failures + 1,
                        "the domain is already verified by another workspace",
                    );
                    (None, Some(error), CheckChange::None)
                } else {
                    (Some(at), None, CheckChange::Verified)
                }
            }
            CheckOutcome::Missing(why) => {
                let failures = failures + 1;
                let error = Some(encode_check_error(failures, why));
                if verified && failures >= FAILURES_TO_UNVERIFY {
                    (None, error, CheckChange::Unverified)
                } else {
                    (current.verified_at, error, CheckChange::None)
                }
            }
            // Not a definite answer: the count stays.
            CheckOutcome::Failed(why) => (
                current.verified_at,
                Some(encode_check_error(failures, why)),
                CheckChange::None,
            ),
        };
        let updated = sqlx::query(
            "UPDATE sso_domains SET verified_at = $1, checked_at = $2, check_error = $3 \
             WHERE id = $4 AND workspace_id = $5",
        )
        .bind(verified_at)
        .bind(at)
        .bind(&check_error)
        .bind(domain_id)
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await;
        match updated {
            // Verified by another workspace between the look and the write.
            Err(e) if is_unique_violation(&e) => return Err(taken()),
            other => other?,
        };
        let detail = json!({ "domain": current.domain });
        let data = json!({ "domain_id": domain_id, "domain": current.domain });
        match change {
            CheckChange::Verified => {
                work.audit(
                    AuditRecord::success(workspace_id, "sso.domain.verified", domain_id)
                        .with_detail(detail),
                )
                .await?;
                work.emit(workspace_id, "sso.domain.verified", data).await?;
            }
            CheckChange::Unverified => {
                let detail = json!({ "domain": current.domain, "failed_checks": failures + 1 });
                work.audit(
                    AuditRecord::success(workspace_id, "sso.domain.unverified", domain_id)
                        .with_detail(detail),
                )
                .await?;
                work.emit(workspace_id, "sso.domain.unverified", data)
                    .await?;
            }
            CheckChange::None => {}
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(domain_id)
            .bind(workspace_id)
            .fetch_one(&mut *work.tx)
            .await?;
        let now_stands = domain_from_row(&row)?;
        self.finish(work).await?;
        if taken_elsewhere {
            return Err(taken());
        }
        Ok((now_stands, change))
    }
}
