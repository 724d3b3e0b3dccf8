//! The email domains a workspace claims for single sign-on: adding one (with
//! the token its DNS record must publish), listing, removing, and finding
//! which workspace has verified a domain. A verified domain belongs to one
//! workspace only (a unique index says so too). The checks themselves are
//! recorded by `sso_domain_checks`.

use super::audit::{AuditRecord, Meta};
use super::work::Scope;
use super::{Store, StoreError, is_unique_violation, now};
use crate::sso::domain_name::{challenge_name, challenge_value, normalise_domain};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use wrnexus_contract::ProblemCode;

/// How many domains (pending or verified) a workspace may have.
pub const MAX_DOMAINS: i64 = 20;

/// The columns [`domain_from_row`] reads.
pub(crate) const COLUMNS: &str =
    "id, workspace_id, domain, token, verified_at, checked_at, check_error, created_at";

/// The DNS record that proves a domain: publish it, then verify.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DnsRecord {
    /// `_wrnexus-challenge.<domain>`.
    pub name: String,
    /// Always `TXT`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    /// `wrnexus-domain-verification=<token>`, exactly.
    pub value: String,
}

/// A domain of a workspace and where its verification stands.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SsoDomain {
    pub id: String,
    pub workspace_id: String,
    /// Lowercase ASCII (IDNA) form.
    pub domain: String,
    /// `verified` or `pending`.
    pub status: &'static str,
    /// Unix seconds; `None` while pending (or since it was unverified).
    pub verified_at: Option<i64>,
    /// The last check, Unix seconds.
    pub checked_at: Option<i64>,
    /// Why the last check failed; `None` when it succeeded.
    pub check_error: Option<String>,
    /// Checks failed in a row; a verified domain is unverified after
    /// [`crate::store::sso_domain_checks::FAILURES_TO_UNVERIFY`].
    pub failed_checks: i64,
    /// The record to publish.
    pub record: DnsRecord,
    pub created_at: i64,
}

/// `check_error` as stored: `<failures in a row>|<sentence>`.
pub(crate) fn encode_check_error(failures: i64, message: &str) -> String {
    format!("{failures}|{message}")
}

/// The failures in a row and the sentence of a stored `check_error`.
pub(crate) fn decode_check_error(stored: Option<&str>) -> (i64, Option<String>) {
    match stored {
        None => (0, None),
        Some(text) => match text
            .split_once('|')
            .and_then(|(n, message)| Some((n.parse::<i64>().ok()?, message)))
        {
            Some((n, message)) => (n, Some(message.to_string())),
            None => (1, Some(text.to_string())),
        },
    }
}

pub(crate) fn domain_from_row(row: &AnyRow) -> Result<SsoDomain, sqlx::Error> {
    let domain: String = row.try_get("domain")?;
    let token: String = row.try_get("token")?;
    let verified_at: Option<i64> = row.try_get("verified_at")?;
    let stored: Option<String> = row.try_get("check_error")?;
    let (failed_checks, check_error) = decode_check_error(stored.as_deref());
    Ok(SsoDomain {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        status: if verified_at.is_some() {
            "verified"
        } else {
            "pending"
        },
        verified_at,
        checked_at: row.try_get("checked_at")?,
        check_error,
        failed_checks,
        record: DnsRecord {
            name: challenge_name(&domain),
            record_type: "TXT",
            value: challenge_value(&token),
        },
        domain,
        created_at: row.try_get("created_at")?,
    })
}

/// 32 random bytes, base64url: what the record publishes.
fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The refusal of a domain verified by another workspace, which it does
/// not name.
pub(crate) fn taken() -> StoreError {
    StoreError::conflict(
        ProblemCode::DomainTaken.as_str(),
        "`domain` is already verified by another workspace",
    )
}

/// Whether a workspace other than `workspace_id` has verified `domain`
/// (read in the system scope: other workspaces' rows are not visible).
pub(crate) async fn verified_elsewhere(
    work: &mut super::work::Work,
    workspace_id: &str,
    domain: &str,
) -> Result<bool, StoreError> {
    work.scope(Scope::system()).await?;
    let other: Option<String> = sqlx::query_scalar(
        "SELECT workspace_id FROM sso_domains \
         WHERE domain = $1 AND verified_at IS NOT NULL AND workspace_id <> $2",
    )
    .bind(domain)
    .bind(workspace_id)
    .fetch_optional(&mut *work.tx)
    .await?;
    work.scope(Scope::workspace(workspace_id)).await?;
    Ok(other.is_some())
}

/// Audit and emit `sso.domain.removed` of `domain_id` (`detail` audited).
pub(crate) async fn record_removal(
    work: &mut super::work::Work,
    workspace_id: &str,
    domain_id: &str,
    domain: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    work.audit(
        AuditRecord::success(workspace_id, "sso.domain.removed", domain_id).with_detail(detail),
    )
    .await?;
    work.emit(
        workspace_id,
        "sso.domain.removed",
        json!({ "domain_id": domain_id, "domain": domain }),
    )
    .await?;
    Ok(())
}

impl Store {
    /// Claim `raw` for `workspace_id`: pending until its record is found.
    /// Refused when malformed (`invalid_domain`), already added here
    /// (`domain_exists`), verified by another workspace (`domain_taken`), or
    /// when the workspace has [`MAX_DOMAINS`] already (`domain_limit`).
    #[tracing::instrument(name = "store.add_sso_domain", skip_all)]
    pub async fn add_sso_domain(
        &self,
        workspace_id: &str,
        raw: &str,
        meta: &Meta,
    ) -> Result<SsoDomain, StoreError> {
        let domain = normalise_domain(raw).map_err(|e| StoreError::Invalid {
            code: ProblemCode::InvalidDomain.as_str(),
            field: "domain",
            message: e.to_string(),
        })?;
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        if verified_elsewhere(&mut work, workspace_id, &domain).await? {
            return Err(taken());
        }
        // Counted under the workspace's lock: concurrent adds wait here.
        super::workspaces::lock_workspace(&mut work, workspace_id).await?;
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sso_domains WHERE workspace_id = $1")
                .bind(workspace_id)
                .fetch_one(&mut *work.tx)
                .await?;
        if held >= MAX_DOMAINS {
            return Err(StoreError::conflict(
                ProblemCode::DomainLimit.as_str(),
                format!(
                    "this workspace has {MAX_DOMAINS} domains, as many as it may have: \
                     remove one before adding `domain`"
                ),
            ));
        }
        let id = format!("dom_{}", uuid::Uuid::now_v7().simple());
        let at = now();
        let inserted = sqlx::query(
            "INSERT INTO sso_domains (id, workspace_id, domain, token, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(workspace_id)
        .bind(&domain)
        .bind(new_token())
        .bind(at)
        .execute(&mut *work.tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::conflict(
                    ProblemCode::DomainExists.as_str(),
                    "this workspace has already added `domain`",
                ));
            }
            other => other?,
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sso_domains WHERE id = $1 AND workspace_id = $2"
        )))
        .bind(&id)
        .bind(workspace_id)
        .fetch_one(&mut *work.tx)
        .await?;
        let added = domain_from_row(&row)?;
        work.audit(
            AuditRecord::success(workspace_id, "sso.domain.added", &id)
                .with_detail(json!({ "domain": domain })),
        )
        .await?;
        work.emit(
            workspace_id,
            "sso.domain.added",
            json!({ "domain_id": id, "domain": domain }),
        )
        .await?;
        self.finish(work).await?;
        Ok(added)
    }

    /// A workspace's domains, in the order they were added.
    #[tracing::instrument(name = "store.sso_domains", skip_all)]
    pub async fn sso_domains(&self, workspace_id: &str) -> Result<Vec<SsoDomain>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sso_domains WHERE workspace_id = $1 ORDER BY created_at, id"
        )))
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.iter().map(domain_from_row).collect::<Result<_, _>>()?)
    }

    /// One domain of a workspace (another workspace's is not found).
    #[tracing::instrument(name = "store.sso_domain", skip_all)]
    pub async fn sso_domain(
        &self,
        workspace_id: &str,
        domain_id: &str,
    ) -> Result<SsoDomain, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sso_domains WHERE id = $1 AND workspace_id = $2"
        )))
        .bind(domain_id)
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(row) => Ok(domain_from_row(&row)?),
            None => Err(StoreError::NotFound { what: "domain" }),
        }
    }

    /// Remove a domain of a workspace: people at it are no longer sent to
    /// the workspace's provider.
    #[tracing::instrument(name = "store.remove_sso_domain", skip_all)]
    pub async fn remove_sso_domain(
        &self,
        workspace_id: &str,
        domain_id: &str,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let removed: Option<(String, Option<i64>)> = sqlx::query_as(
            "DELETE FROM sso_domains WHERE id = $1 AND workspace_id = $2 \
             RETURNING domain, verified_at",
        )
        .bind(domain_id)
        .bind(workspace_id)
        .fetch_optional(&mut *work.tx)
        .await?;
        let Some((domain, verified_at)) = removed else {
            return Err(StoreError::NotFound { what: "domain" });
        };
        let detail = json!({ "domain": domain, "was_verified": verified_at.is_some() });
        record_removal(&mut work, workspace_id, domain_id, &domain, detail).await?;
        self.finish(work).await
    }

    /// The workspace that has verified `domain` (normalised form), if any.
    #[tracing::instrument(name = "store.workspace_for_verified_domain", skip_all)]
    pub async fn workspace_for_verified_domain(
        &self,
        domain: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        Ok(sqlx::query_scalar(
            "SELECT workspace_id FROM sso_domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(domain)
        .fetch_optional(&mut *tx)
        .await?)
    }

    /// The workspace people at `domain` sign in through: it has verified
    /// the domain and has an enabled connection.
    #[tracing::instrument(name = "store.sso_workspace_for_domain", skip_all)]
    pub async fn sso_workspace_for_domain(
        &self,
        domain: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        Ok(sqlx::query_scalar(
            "SELECT d.workspace_id FROM sso_domains d \
             JOIN sso_connections c ON c.workspace_id = d.workspace_id \
             WHERE d.domain = $1 AND d.verified_at IS NOT NULL AND c.enabled = $2",
        )
        .bind(domain)
        .bind(true)
        .fetch_optional(&mut *tx)
        .await?)
    }
}

#[cfg(test)]
#[path = "sso_domains_tests.rs"]
mod tests;
