//! Ending access wholesale: "sign out everywhere" and disabling a user
//! revoke every session of the user and every API key behind them (see
//! [`super::made_by`]), in whichever workspace; a password reset or change
//! ends the user's sessions (all, or all but the one making the change).
//! Each is one transaction, audited, and pushed so every gateway refuses
//! at once.

use super::audit::{AuditRecord, Meta};
use super::made_by::{Ended, Revoked, Why, lock_person, revoke_keys, withdraw_invitations};
use super::work::{Scope, Work};
use super::{Store, StoreError, now};
use serde_json::json;
use wrnexus_policies::{Entry, EntryKey};

/// Revoke every live session of `user_id` inside `work`; how many.
async fn revoke_sessions(work: &mut Work, user_id: &str) -> Result<usize, StoreError> {
    revoke_sessions_except(work, user_id, None).await
}

/// Revoke every live session of `user_id` but `except` inside `work`, each
/// pushed; how many.
#[tracing::instrument(name = "store.revoke_sessions_except", skip_all)]
pub(crate) async fn revoke_sessions_except(
    work: &mut Work,
    user_id: &str,
    except: Option<&str>,
) -> Result<usize, StoreError> {
    let version = work.version().await?;
    // Session ids are never empty: "" keeps none.
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1, version = $2 \
         WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4 RETURNING id",
    )
    .bind(now())
    .bind(version)
    .bind(user_id)
    .bind(except.unwrap_or(""))
    .fetch_all(&mut *work.tx)
    .await?;
    for id in &ids {
        work.push(
            EntryKey::session(user_id, id),
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
#[tracing::instrument(name = "store.personal_workspace", skip_all)]
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
    /// End every session of `user_id` but `except` (the one asking), pushed
    /// to every gateway, audited `sessions.revoked_others` in the user's
    /// personal workspace; how many ended.
    #[tracing::instrument(name = "store.end_other_sessions", skip_all)]
    pub async fn end_other_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        meta: &Meta,
    ) -> Result<usize, StoreError> {
        let mut work = self.work(Scope::user(user_id), meta).await?;
        let ended = revoke_sessions_except(&mut work, user_id, except).await?;
        if let Some(personal) = personal_workspace(&mut work, user_id).await? {
            work.scope(Scope::member(&personal, user_id)).await?;
            work.audit(
                AuditRecord::success(&personal, "sessions.revoked_others", user_id)
                    .with_detail(json!({ "sessions": ended, "kept": except })),
            )
            .await?;
        }
        self.finish(work).await?;
        Ok(ended)
    }

    /// Sign `user_id` out everywhere: every session ends and every API key
    /// behind them is revoked.
    #[tracing::instrument(name = "store.revoke_all_sessions", skip_all)]
    pub async fn revoke_all_sessions(
        &self,
        user_id: &str,
        meta: &Meta,
    ) -> Result<Ended, StoreError> {
        // Keys live in many workspaces: this one job works across them.
        let mut work = self.work(Scope::system(), meta).await?;
        if lock_person(&mut work, user_id).await?.is_none() {
            return Err(StoreError::NotFound { what: "user" });
        }
        let sessions = revoke_sessions(&mut work, user_id).await?;
        let api_keys = revoke_keys(&mut work, user_id, None, Why::SignedOutEverywhere).await?;
        if let Some(personal) = personal_workspace(&mut work, user_id).await? {
            work.audit(
                AuditRecord::success(&personal, "sessions.revoked_all", user_id)
                    .with_detail(json!({ "sessions": sessions, "api_keys": api_keys })),
            )
            .await?;
        }
        self.finish(work).await?;
        Ok(Ended {
            user_id: user_id.to_string(),
            sessions,
            revoked: Revoked {
                api_keys,
                invitations: Vec::new(),
            },
        })
    }

    /// Disable a user: no sign-in, every session ended, every API key
    /// behind them revoked and every pending invitation they (or those
    /// keys) sent withdrawn, in whichever workspace. Idempotent.
    #[tracing::instrument(name = "store.disable_user", skip_all)]
    pub async fn disable_user(&self, user_id: &str, meta: &Meta) -> Result<Ended, StoreError> {
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
        let verified: Option<i64> =
            sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *work.tx)
                .await?
                .flatten();
        work.push(
            EntryKey::User(user_id.to_string()),
            Entry::User {
                disabled: true,
                email_verified: verified.is_some(),
            },
        )
        .await?;
        let sessions = revoke_sessions(&mut work, user_id).await?;
        let api_keys = revoke_keys(&mut work, user_id, None, Why::Disabled).await?;
        let invitations =
            withdraw_invitations(&mut work, None, user_id, None, Why::Disabled).await?;
        if let Some(personal) = personal_workspace(&mut work, user_id).await? {
            work.audit(
                AuditRecord::success(&personal, "user.disabled", user_id).with_detail(json!({
                    "sessions": sessions,
                    "api_keys": api_keys,
                    "invitations": invitations,
                })),
            )
            .await?;
        }
        self.finish(work).await?;
        Ok(Ended {
            user_id: user_id.to_string(),
            sessions,
            revoked: Revoked {
                api_keys,
                invitations,
            },
        })
    }
}
