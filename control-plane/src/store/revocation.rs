//! Ending access wholesale: "sign out everywhere" revokes every session of
//! a user; disabling a user also revokes the API keys they created. Each is
//! one transaction, audited, and pushed so every gateway refuses at once.

use super::audit::{AuditRecord, Meta};
use super::work::{Scope, Work};
use super::workspaces::parse;
use super::{Store, StoreError, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_policies::{Entry, EntryKey};

/// Revoke every live session of `user_id` inside `work`; how many.
async fn revoke_sessions(work: &mut Work, user_id: &str) -> Result<usize, StoreError> {
    let version = work.version().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1, version = $2 \
         WHERE user_id = $3 AND revoked_at IS NULL RETURNING id",
    )
    .bind(now())
    .bind(version)
    .bind(user_id)
    .fetch_all(&mut *work.tx)
    .await?;
    for id in &ids {
        work.push(
            EntryKey::Session(id.clone()),
            Entry::Session {
                user_id: user_id.to_string(),
                revoked: true,
            },
        )
        .await?;
    }
    Ok(ids.len())
}

/// The user's personal workspace, where their own audit rows go (the
/// scope must let the transaction see the user's workspaces).
pub(crate) async fn personal_workspace(
    work: &mut Work,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM workspaces WHERE personal_owner_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *work.tx)
            .await?,
    )
}

impl Store {
    /// Sign `user_id` out everywhere; the number of sessions ended.
    pub async fn revoke_all_sessions(
        &self,
        user_id: &str,
        meta: &Meta,
    ) -> Result<usize, StoreError> {
        let mut work = self.work(Scope::user(user_id), meta).await?;
        let count = revoke_sessions(&mut work, user_id).await?;
        if let Some(personal) = personal_workspace(&mut work, user_id).await? {
            work.scope(Scope::member(&personal, user_id)).await?;
            work.audit(
                AuditRecord::success(&personal, "sessions.revoked_all", user_id)
                    .with_detail(json!({ "sessions": count })),
            )
            .await?;
        }
        self.finish(work).await?;
        Ok(count)
    }

    /// Disable a user: no sign-in, every session ended, and every API key
    /// they created revoked (in whichever workspace). Idempotent.
    pub async fn disable_user(&self, user_id: &str, meta: &Meta) -> Result<(), StoreError> {
        // Keys live in many workspaces: this one job works across them.
        let mut work = self.work(Scope::system(), meta).await?;
        let version = work.version().await?;
        let done = sqlx::query(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $1), version = $2 WHERE id = $3",
        )
        .bind(now())
        .bind(version)
        .bind(user_id)
        .execute(&mut *work.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "user" });
        }
        work.push(
            EntryKey::User(user_id.to_string()),
            Entry::User { disabled: true },
        )
        .await?;
        let sessions = revoke_sessions(&mut work, user_id).await?;
        let keys = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1, version = $2 \
             WHERE created_by = $3 AND revoked_at IS NULL \
             RETURNING id, workspace_id, role_ceiling, expires_at, secret_hash",
        )
        .bind(now())
        .bind(version)
        .bind(user_id)
        .fetch_all(&mut *work.tx)
        .await?;
        for key in &keys {
            let id: String = key.try_get("id")?;
            let workspace_id: String = key.try_get("workspace_id")?;
            work.audit(
                AuditRecord::success(&workspace_id, "api_key.revoked", &id)
                    .with_detail(json!({ "reason": "creator disabled", "user_id": user_id })),
            )
            .await?;
            work.emit(
                &workspace_id,
                "api_key.revoked",
                json!({ "api_key": { "id": id } }),
            )
            .await?;
            work.push(
                EntryKey::ApiKey(id.clone()),
                Entry::ApiKey {
                    workspace_id,
                    role_ceiling: parse(key.try_get("role_ceiling")?)?,
                    secret_hash: key.try_get("secret_hash")?,
                    expires_at: key.try_get("expires_at")?,
                    revoked: true,
                },
            )
            .await?;
        }
        if let Some(personal) = personal_workspace(&mut work, user_id).await? {
            work.audit(
                AuditRecord::success(&personal, "user.disabled", user_id)
                    .with_detail(json!({ "sessions": sessions, "api_keys": keys.len() })),
            )
            .await?;
        }
        self.finish(work).await
    }
}
