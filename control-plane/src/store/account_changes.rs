//! A person's own account: the email verified (or changed) from a mailed
//! link, a forgotten password reset from one, the password changed with
//! the current one. Each is one transaction holding its audit row, its mail
//! and the entries pushed to the gateways.

use super::account_tokens::{self, Purpose};
use super::accounts::verify_link;
use super::audit::{ActorKind, AuditRecord, Meta};
use super::made_by::{Why, revoke_keys};
use super::revocation::{personal_workspace, revoke_sessions_except};
use super::work::{Scope, Work};
use super::{Store, StoreError, is_unique_violation, now};
use crate::config::ControlPlaneConfig;
use crate::mail::Message;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Entry, EntryKey};

/// `GET /account`: the signed-in person's own account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    /// The address a change of email waits to switch to (its link unused).
    pub pending_email: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// An email verified from its link.
#[derive(Debug, Clone)]
pub struct Verified {
    pub user_id: String,
    /// The verified address, the account's email from now on.
    pub email: String,
    /// The link was a change of email: the account's address switched.
    pub changed: bool,
}

/// A password reset from its link.
#[derive(Debug, Clone)]
pub struct Reset {
    pub user_id: String,
    /// How many sessions ended.
    pub sessions_ended: usize,
    /// The API keys revoked: every key behind the person when their email
    /// had not been verified before the reset (whoever made them may not
    /// have been the address's owner). Sorted.
    pub api_keys_revoked: Vec<String>,
    /// How many provider identities were unlinked: every one of the
    /// person's when their email had not been verified before the reset
    /// (linked by whoever made the account, perhaps not the address's owner).
    pub identities_unlinked: u64,
}

/// The user's row, locked for the rest of the unit: email, disabled,
/// verified.
async fn lock_user(work: &mut Work, user_id: &str) -> Result<(String, bool, bool), StoreError> {
    let row = sqlx::query(
        "UPDATE users SET version = version WHERE id = $1 \
         RETURNING email, disabled_at, email_verified_at",
    )
    .bind(user_id)
    .fetch_optional(&mut *work.tx)
    .await?
    .ok_or(StoreError::NotFound { what: "user" })?;
    Ok((
        row.try_get("email")?,
        row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        row.try_get::<Option<i64>, _>("email_verified_at")?
            .is_some(),
    ))
}

/// Move `work` to the user's personal workspace (where their own audit rows
/// and mail go) and name it.
async fn personal(work: &mut Work, user_id: &str) -> Result<String, StoreError> {
    work.scope(Scope::user(user_id)).await?;
    let id = personal_workspace(work, user_id)
        .await?
        .ok_or(StoreError::NotFound {
            what: "personal workspace",
        })?;
    work.scope(Scope::member(&id, user_id)).await?;
    Ok(id)
}

fn email_taken() -> StoreError {
    StoreError::conflict(
        ProblemCode::EmailTaken.as_str(),
        "another account uses this email address",
    )
}

async fn email_in_use(work: &mut Work, email: &str, user_id: &str) -> Result<bool, StoreError> {
    let other: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND id <> $2")
            .bind(email)
            .bind(user_id)
            .fetch_optional(&mut *work.tx)
            .await?;
    Ok(other.is_some())
}

/// Mail a verification link for `email` to it (a change when it is not the
/// account's current address).
async fn mail_verification(
    work: &mut Work,
    config: &ControlPlaneConfig,
    workspace_id: &str,
    user_id: &str,
    email: &str,
    change: bool,
) -> Result<(), StoreError> {
    let issued = account_tokens::issue(
        work,
        user_id,
        Purpose::VerifyEmail,
        email,
        config.verification_ttl_secs,
    )
    .await?;
    let message = Message::VerifyEmail {
        email: email.to_string(),
        link: verify_link(config, &issued.token),
        expires_at: issued.expires_at,
        change,
    };
    super::mail::enqueue_message(work, workspace_id, email, &message).await
}

/// Push the user's entry as it now stands.
async fn push_user(
    work: &mut Work,
    user_id: &str,
    disabled: bool,
    email_verified: bool,
) -> Result<(), StoreError> {
    let version = work.version().await?;
    sqlx::query("UPDATE users SET version = $1 WHERE id = $2")
        .bind(version)
        .bind(user_id)
        .execute(&mut *work.tx)
        .await?;
    work.push(
        EntryKey::User(user_id.to_string()),
        Entry::User {
            disabled,
            email_verified,
        },
    )
    .await
}

impl Store {
    /// The person's own account, with a pending change of email.
    #[tracing::instrument(name = "store.account", skip_all)]
    pub async fn account(&self, user_id: &str) -> Result<Option<AccountView>, StoreError> {
        let mut tx = self.read(Scope::user(user_id)).await?;
        let row =
            sqlx::query("SELECT id, email, email_verified_at, created_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let email: String = row.try_get("email")?;
        let pending_email = account_tokens::pending_email(&mut tx, user_id, &email).await?;
        Ok(Some(AccountView {
            id: row.try_get("id")?,
            email_verified: row
                .try_get::<Option<i64>, _>("email_verified_at")?
                .is_some(),
            email,
            pending_email,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// Mail a fresh link verifying the account's current email; the
    /// person's older verification links (a pending change of email
    /// included) stop working.
    #[tracing::instrument(name = "store.resend_verification", skip_all)]
    pub async fn resend_verification(
        &self,
        user_id: &str,
        config: &ControlPlaneConfig,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let meta = meta.with_actor(ActorKind::User, user_id);
        let mut work = self.work(Scope::user(user_id), &meta).await?;
        let (email, _, _) = lock_user(&mut work, user_id).await?;
        let workspace = personal(&mut work, user_id).await?;
        mail_verification(&mut work, config, &workspace, user_id, &email, false).await?;
        work.audit(AuditRecord::success(
            &workspace,
            "user.verification_sent",
            user_id,
        ))
        .await?;
        self.finish(work).await
    }

    /// Ask to change the account's email to `new_email` (the current
    /// password already checked): a link is mailed to the new address and
    /// the email changes only when it is used. An address another account
    /// has is a conflict (`email_taken`).
    #[tracing::instrument(name = "store.request_email_change", skip_all)]
    pub async fn request_email_change(
        &self,
        user_id: &str,
        new_email: &str,
        config: &ControlPlaneConfig,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let meta = meta.with_actor(ActorKind::User, user_id);
        let mut work = self.work(Scope::user(user_id), &meta).await?;
        let (email, _, _) = lock_user(&mut work, user_id).await?;
        if email_in_use(&mut work, new_email, user_id).await? {
            return Err(email_taken());
        }
        let change = email != new_email;
        let workspace = personal(&mut work, user_id).await?;
        mail_verification(&mut work, config, &workspace, user_id, new_email, change).await?;
        work.audit(
            AuditRecord::success(&workspace, "user.email_change_requested", user_id)
                .with_detail(json!({ "from": email, "to": new_email })),
        )
        .await?;
        self.finish(work).await
    }

    /// Use a verification link: the address it proves becomes the
    /// account's verified email (switching it for a change of email, unless
    /// another account took the address meanwhile: `email_taken`, and
    /// nothing changes), audited, and pushed so gateways see
    /// `email_verified` at once.
    #[tracing::instrument(name = "store.verify_email", skip_all)]
    pub async fn verify_email(&self, token: &str, meta: &Meta) -> Result<Verified, StoreError> {
        let mut work = self.work(Scope::default(), meta).await?;
        let used = account_tokens::consume(&mut work, token, Purpose::VerifyEmail).await?;
        let (current, disabled, _) = lock_user(&mut work, &used.user_id).await?;
        let changed = current != used.email;
        if changed && email_in_use(&mut work, &used.email, &used.user_id).await? {
            return Err(email_taken());
        }
        let updated =
            sqlx::query("UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3")
                .bind(&used.email)
                .bind(now())
                .bind(&used.user_id)
                .execute(&mut *work.tx)
                .await;
        match updated {
            Err(e) if is_unique_violation(&e) => return Err(email_taken()),
            other => other?,
        };
        push_user(&mut work, &used.user_id, disabled, true).await?;
        let workspace = personal(&mut work, &used.user_id).await?;
        let (action, detail) = if changed {
            (
                "user.email_changed",
                json!({ "from": current, "to": used.email }),
            )
        } else {
            ("user.email_verified", json!({ "email": used.email }))
        };
        work.audit(AuditRecord::success(&workspace, action, &used.user_id).with_detail(detail))
            .await?;
        self.finish(work).await?;
        Ok(Verified {
            user_id: used.user_id,
            email: used.email,
            changed,
        })
    }

    /// "Forgot password?": mail a reset link when `email` names an account
    /// that may sign in; otherwise send nothing. The caller answers the same
    /// either way, before calling this (so the time taken tells nothing).
    #[tracing::instrument(name = "store.request_password_reset", skip_all)]
    pub async fn request_password_reset(
        &self,
        email: &str,
        config: &ControlPlaneConfig,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let user = self.user_by_email(email).await?.filter(|u| !u.disabled);
        let Some(user) = user else {
            return Ok(());
        };
        let meta = meta.with_actor(ActorKind::Anonymous, "");
        let mut work = self.work(Scope::user(&user.id), &meta).await?;
        lock_user(&mut work, &user.id).await?;
        let issued = account_tokens::issue(
            &mut work,
            &user.id,
            Purpose::ResetPassword,
            &user.email,
            config.reset_ttl_secs,
        )
        .await?;
        let workspace = personal(&mut work, &user.id).await?;
        let message = Message::ResetPassword {
            email: user.email.clone(),
            link: config.link(&format!("/.wrnexus/reset-password?token={}", issued.token)),
            expires_at: issued.expires_at,
        };
        super::mail::enqueue_message(&mut work, &workspace, &user.email, &message).await?;
        work.audit(AuditRecord::success(
            &workspace,
            "user.password_reset_requested",
            &user.id,
        ))
        .await?;
        self.finish(work).await
    }

    /// Whether a link of `purpose` can still be used (nothing changes): its
    /// page offers the form only for one that can.
    #[tracing::instrument(name = "store.link_standing", skip_all)]
    pub async fn link_standing(
        &self,
        token: &str,
        purpose: Purpose,
    ) -> Result<account_tokens::Standing, StoreError> {
        let mut tx = self.read(Scope::default()).await?;
        let (standing, _) = account_tokens::standing(&mut tx, token, purpose).await?;
        Ok(standing)
    }

    /// Use a reset link: the password becomes `password_hash`, every
    /// session of the user ends (pushed), the email counts as verified (the
    /// link reached it) and, when it was not before, every API key behind
    /// the user is revoked (pushed) and every provider identity linked to
    /// it is unlinked; audited, and `PasswordChanged` mailed. A disabled
    /// user's link changes nothing.
    #[tracing::instrument(name = "store.reset_password", skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        password_hash: &str,
        config: &ControlPlaneConfig,
        meta: &Meta,
    ) -> Result<Reset, StoreError> {
        let mut work = self.work(Scope::default(), meta).await?;
        let used = account_tokens::consume(&mut work, token, Purpose::ResetPassword).await?;
        let (email, disabled, was_verified) = lock_user(&mut work, &used.user_id).await?;
        if disabled || email != used.email {
            // Disabled since, or the address changed since: the link
            // proves nothing about the account any more.
            return Err(account_tokens::refusal(account_tokens::Standing::Unknown));
        }
        sqlx::query(
            "UPDATE users SET password_hash = $1, \
             email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3",
        )
        .bind(password_hash)
        .bind(now())
        .bind(&used.user_id)
        .execute(&mut *work.tx)
        .await?;
        push_user(&mut work, &used.user_id, false, true).await?;
        let sessions_ended = revoke_sessions_except(&mut work, &used.user_id, None).await?;
        // Unverified until now: someone else may have signed up with this
        // address and made keys; the owner taking the account back through
        // the link ends them too (in whichever workspace they are).
        let (api_keys_revoked, identities_unlinked) = if was_verified {
            (Vec::new(), 0)
        } else {
            work.scope(Scope::system()).await?;
            let keys =
                revoke_keys(&mut work, &used.user_id, None, Why::SignedOutEverywhere).await?;
            let unlinked = sqlx::query("DELETE FROM sso_identities WHERE user_id = $1")
                .bind(&used.user_id)
                .execute(&mut *work.tx)
                .await?
                .rows_affected();
            (keys, unlinked)
        };
        let workspace = personal(&mut work, &used.user_id).await?;
        work.audit(
            AuditRecord::success(&workspace, "user.password_reset", &used.user_id).with_detail(
                json!({
                    "sessions_ended": sessions_ended,
                    "api_keys": api_keys_revoked,
                    "identities_unlinked": identities_unlinked,
                }),
            ),
        )
        .await?;
        let message = Message::PasswordChanged {
            email: email.clone(),
            signin_link: config.link("/.wrnexus/signin"),
        };
        super::mail::enqueue_message(&mut work, &workspace, &email, &message).await?;
        self.finish(work).await?;
        Ok(Reset {
            user_id: used.user_id,
            sessions_ended,
            api_keys_revoked,
            identities_unlinked,
        })
    }

    /// Change the password (the current one already checked): every other
    /// session of the user ends (pushed), `keep` stays; audited and
    /// `PasswordChanged` mailed. How many sessions ended.
    #[tracing::instrument(name = "store.change_password", skip_all)]
    pub async fn change_password(
        &self,
        user_id: &str,
        keep: &str,
        password_hash: &str,
        config: &ControlPlaneConfig,
        meta: &Meta,
    ) -> Result<usize, StoreError> {
        let meta = meta.with_actor(ActorKind::User, user_id);
        let mut work = self.work(Scope::user(user_id), &meta).await?;
        let (email, _, _) = lock_user(&mut work, user_id).await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *work.tx)
            .await?;
        let ended = revoke_sessions_except(&mut work, user_id, Some(keep)).await?;
        let workspace = personal(&mut work, user_id).await?;
        work.audit(
            AuditRecord::success(&workspace, "user.password_changed", user_id)
                .with_detail(json!({ "sessions_ended": ended })),
        )
        .await?;
        let message = Message::PasswordChanged {
            email: email.clone(),
            signin_link: config.link("/.wrnexus/signin"),
        };
        super::mail::enqueue_message(&mut work, &workspace, &email, &message).await?;
        self.finish(work).await?;
        Ok(ended)
    }
}
