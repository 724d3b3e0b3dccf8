//! API key use reported by gateways: the latest use of each key (its
//! `last_used_at`) and the keys they refused (audit rows in each key's
//! workspace, like refusals on the control plane's own API).
//!
//! A report is applied in one transaction. `last_used_at` never moves back
//! and is written at most once a minute per key, as for use of the API
//! itself. A refusal is filed under the key's own workspace as stored (not
//! whatever a gateway believed); ids no key has are ignored and counted, so
//! nobody fills any log by inventing key ids.
//!
//! The same report carries the sessions a gateway served, each with the
//! latest time (see [`super::devices`]).

use super::api_keys::{KEY_USE_ACTION, LAST_USED_GRANULARITY_SECS};
use super::audit::{ActorKind, AuditRecord, Meta, Outcome};
use super::audit_row;
use super::devices::SessionSeen;
use super::work::Scope;
use super::{Store, StoreError, now};
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// Refusal reasons a gateway reports. `unknown`: the gateway found no
/// entry for the key id — for a key that exists, the control plane refused
/// the gateway's lookup because the secret was wrong.
pub const GATEWAY_REFUSALS: [&str; 5] = [
    "unknown",
    "wrong_secret",
    "revoked",
    "expired",
    "wrong_workspace",
];

/// A key's latest use at a gateway.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeyUse {
    /// 16 hex digits.
    pub key_id: String,
    /// Unix seconds.
    pub at: i64,
}

/// A key a gateway refused, with the request it came with (never its
/// secret).
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct RefusedKeyUse {
    pub key_id: String,
    /// `unknown` (no entry at the gateway), `wrong_secret`, `revoked`,
    /// `expired` or `wrong_workspace`.
    pub reason: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// One gateway report.
#[derive(Debug, Clone, Default, utoipa::ToSchema)]
pub struct KeyUsageReport {
    /// Each key's latest successful use (at most 1000).
    pub used: Vec<KeyUse>,
    /// Keys the gateway refused (at most 1000).
    pub refused: Vec<RefusedKeyUse>,
    /// Sessions served, each with its latest time (at most 1000).
    pub sessions: Vec<SessionSeen>,
}

/// What applying a report did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyUsageApplied {
    /// Keys whose `last_used_at` moved forward.
    pub updated: u64,
    /// Audit rows written for refusals.
    pub audited: u64,
    /// Entries naming no existing key, ignored.
    pub unknown_keys: u64,
    /// Sessions whose `last_seen_at` moved forward.
    pub sessions_seen: u64,
}

/// What is stored about a reported key.
struct Known {
    workspace_id: String,
    last_used_at: Option<i64>,
}

/// Most ids in one lookup query.
const LOOKUP_CHUNK: usize = 500;

impl Store {
    /// Apply a gateway's report of key use.
    #[tracing::instrument(name = "store.apply_key_usage", skip_all)]
    pub async fn apply_key_usage(
        &self,
        report: &KeyUsageReport,
    ) -> Result<KeyUsageApplied, StoreError> {
        let mut ids: Vec<&str> = report
            .used
            .iter()
            .map(|u| u.key_id.as_str())
            .chain(report.refused.iter().map(|r| r.key_id.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        // Keys are found by id before their workspace is known.
        let mut work = self.work(Scope::system(), &Meta::system()).await?;
        let mut known: HashMap<String, Known> = HashMap::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, workspace_id, last_used_at FROM api_keys WHERE id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *work.tx).await? {
                known.insert(
                    row.try_get("id")?,
                    Known {
                        workspace_id: row.try_get("workspace_id")?,
                        last_used_at: row.try_get("last_used_at")?,
                    },
                );
            }
        }

        let mut applied = KeyUsageApplied::default();
        let mut by_workspace: BTreeMap<&str, (Vec<&KeyUse>, Vec<&RefusedKeyUse>)> = BTreeMap::new();
        for u in &report.used {
            match known.get(&u.key_id) {
                Some(k) => by_workspace.entry(&k.workspace_id).or_default().0.push(u),
                None => applied.unknown_keys += 1,
            }
        }
        for r in &report.refused {
            match known.get(&r.key_id) {
                Some(k) => by_workspace.entry(&k.workspace_id).or_default().1.push(r),
                None => applied.unknown_keys += 1,
            }
        }

        let now = now();
        for (workspace_id, (used, refused)) in by_workspace {
            work.scope(Scope::workspace(workspace_id)).await?;
            for u in used {
                // A gateway's clock ahead of ours does not make a future use.
                let at = u.at.min(now);
                let stored = known.get(&u.key_id).and_then(|k| k.last_used_at);
                if stored.is_some_and(|t| at - t < LAST_USED_GRANULARITY_SECS) {
                    continue;
                }
                let written = sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 WHERE workspace_id = $2 AND id = $3 \
                     AND (last_used_at IS NULL OR last_used_at <= $4)",
                )
                .bind(at)
                .bind(workspace_id)
                .bind(&u.key_id)
                .bind(at - LAST_USED_GRANULARITY_SECS)
                .execute(&mut *work.tx)
                .await?;
                applied.updated += written.rows_affected();
            }
            for r in refused {
                // The key exists, so the lookup was refused for its secret.
                let reason = match r.reason.as_str() {
                    "unknown" => "wrong_secret",
                    other => other,
                };
                let meta = Meta {
                    actor_kind: ActorKind::ApiKey,
                    actor_id: Some(r.key_id.clone()),
                    request_id: r.request_id.clone(),
                    ip: r.ip.clone(),
                    user_agent: r.user_agent.clone(),
                    method: None,
                    session_id: None,
                };
                let record = AuditRecord {
                    workspace_id: Some(workspace_id),
                    action: KEY_USE_ACTION,
                    target: Some(&r.key_id),
                    outcome: Outcome::Failure,
                    detail: Some(json!({ "reason": reason, "via": "gateway" })),
                };
                audit_row::append_at(&mut work.tx, &meta, &record, r.at.min(now)).await?;
                applied.audited += 1;
            }
        }
        self.finish(work).await?;
        applied.sessions_seen = self.apply_sessions_seen(&report.sessions).await?;
        Ok(applied)
    }
}
