//! Sessions per device: a user's live sessions (where each started, with
//! what, and when it was last seen), ending one of their own, and the
//! last-seen times gateways report.
//!
//! `last_seen_at` starts at sign-in and moves forward only, from the
//! gateways' reports ([`super::key_usage`]): each report carries at most
//! one time per session, so a busy session costs one write per report.

use super::audit::{AuditRecord, Meta};
use super::sessions::own_workspace;
use super::work::Scope;
use super::{Store, StoreError, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_policies::{Entry, EntryKey};

/// One live session of a user, as their account page lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceSession {
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When a gateway (or the sign-in) last saw it; Unix seconds.
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// The client's address when it started (none: not known).
    pub client_ip: Option<String>,
    /// The user agent it started with, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The session asking.
    pub current: bool,
}

/// A session a gateway served, and when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct SessionSeen {
    pub session_id: String,
    pub at: i64,
}

impl Store {
    /// The live sessions of `user_id`, newest first; `current` marks
    /// `current_id`.
    #[tracing::instrument(name = "store.device_sessions", skip_all)]
    pub async fn device_sessions(
        &self,
        user_id: &str,
        current_id: &str,
    ) -> Result<Vec<DeviceSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_seen_at, expires_at, client_ip, user_agent \
             FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .bind(now())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let created_at: i64 = r.try_get("created_at")?;
                Ok(DeviceSession {
                    current: id == current_id,
                    last_seen_at: r
                        .try_get::<Option<i64>, _>("last_seen_at")?
                        .unwrap_or(created_at),
                    id,
                    created_at,
                    expires_at: r.try_get("expires_at")?,
                    client_ip: r.try_get("client_ip")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// End one of `user_id`'s own live sessions: revoked, pushed to every
    /// gateway, and audited (`session.ended`, with that device's address)
    /// in their personal workspace only — never in a shared workspace they
    /// happen to be in, whose admins have no business knowing where they
    /// sign in from. Another user's session, or one already over, is not
    /// found.
    #[tracing::instrument(name = "store.end_own_session", skip_all)]
    pub async fn end_own_session(
        &self,
        user_id: &str,
        session_id: &str,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::user(user_id), meta).await?;
        let version = work.version().await?;
        let at = now();
        let ended = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, version = $2 WHERE id = $3 AND user_id = $4 \
             AND revoked_at IS NULL AND expires_at > $1 RETURNING client_ip",
        )
        .bind(at)
        .bind(version)
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(&mut *work.tx)
        .await?;
        let Some(row) = ended else {
            return Err(StoreError::NotFound { what: "session" });
        };
        let client_ip: Option<String> = row.try_get("client_ip")?;
        work.push(
            EntryKey::session(user_id, session_id),
            Entry::Session {
                user_id: user_id.to_string(),
                revoked: true,
            },
        )
        .await?;
        if let Some(workspace) = own_workspace(&mut work, user_id, None).await? {
            let current = meta.session_id.as_deref() == Some(session_id);
            work.audit(
                AuditRecord::success(&workspace, "session.ended", user_id).with_detail(json!({
                    "session_id": session_id,
                    "client_ip": client_ip,
                    "current": current,
                })),
            )
            .await?;
        }
        self.finish(work).await
    }

    /// Move sessions' `last_seen_at` forward to what gateways saw (never
    /// back, never past now); ended sessions are left alone. How many
    /// moved.
    #[tracing::instrument(name = "store.apply_sessions_seen", skip_all)]
    pub async fn apply_sessions_seen(&self, seen: &[SessionSeen]) -> Result<u64, StoreError> {
        if seen.is_empty() {
            return Ok(0);
        }
        let mut work = self.work(Scope::system(), &Meta::system()).await?;
        let at_most = now();
        let mut moved = 0;
        for s in seen {
            let at = s.at.min(at_most);
            let written = sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at IS NULL \
                 AND (last_seen_at IS NULL OR last_seen_at < $1)",
            )
            .bind(at)
            .bind(&s.session_id)
            .execute(&mut *work.tx)
            .await?;
            moved += written.rows_affected();
        }
        self.finish(work).await?;
        Ok(moved)
    }
}
