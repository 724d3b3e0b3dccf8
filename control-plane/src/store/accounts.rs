//! Users: sign-up (user + personal workspace + owner membership, and the
//! verification mail, in one transaction), lookup, and switching to (and
//! remembering) a workspace.

use super::account_tokens::{self, Purpose};
use super::audit::{AuditRecord, Meta};
use super::membership::membership_in;
use super::work::Scope;
use super::{Store, StoreError, is_unique_violation, new_id, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Entry, EntryKey, Role, WorkspaceStatus};

/// A user as the store knows it. `password_hash` never leaves the control plane.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub disabled: bool,
    /// The person proved they own `email`.
    pub email_verified: bool,
    pub last_workspace_id: Option<String>,
}

/// What sign-up created.
#[derive(Debug, Clone)]
pub struct SignedUp {
    pub user: User,
    pub workspace_id: String,
    pub workspace_name: String,
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        email_verified: row
            .try_get::<Option<i64>, _>("email_verified_at")?
            .is_some(),
        last_workspace_id: row.try_get("last_workspace_id")?,
    })
}

/// The link that verifies an email address with `token`.
pub(crate) fn verify_link(config: &crate::config::ControlPlaneConfig, token: &str) -> String {
    config.link(&format!("/.wrnexus/verify-email?token={token}"))
}

impl Store {
    /// Create the user, their personal workspace and the owner membership,
    /// all or nothing. A taken email is a conflict (`email_taken`).
    #[tracing::instrument(name = "store.sign_up", skip_all)]
    pub async fn sign_up(
        &self,
        email: &str,
        password_hash: &str,
        meta: &Meta,
    ) -> Result<SignedUp, StoreError> {
        self.sign_up_mailing(email, password_hash, None, meta).await
    }

    /// [`Store::sign_up`], and in the same transaction a verification link
    /// for the email mailed (through the personal workspace's outbox) with
    /// `config`'s public URL and lifetime.
    #[tracing::instrument(name = "store.sign_up_verifying", skip_all)]
    pub async fn sign_up_verifying(
        &self,
        email: &str,
        password_hash: &str,
        config: &crate::config::ControlPlaneConfig,
        meta: &Meta,
    ) -> Result<SignedUp, StoreError> {
        self.sign_up_mailing(email, password_hash, Some(config), meta)
            .await
    }

    async fn sign_up_mailing(
        &self,
        email: &str,
        password_hash: &str,
        verify: Option<&crate::config::ControlPlaneConfig>,
        meta: &Meta,
    ) -> Result<SignedUp, StoreError> {
        let user_id = new_id();
        let workspace_id = new_id();
        let meta = meta.with_actor(super::audit::ActorKind::User, &user_id);
        let mut work = self.work(Scope::workspace(&workspace_id), &meta).await?;
        let version = work.version().await?;
        let now = now();
        let workspace_name = format!("{}'s workspace", email.split('@').next().unwrap_or(email));
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, password_hash, created_at, last_workspace_id, version) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user_id)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .bind(&workspace_id)
        .bind(version)
        .execute(&mut *work.tx)
        .await;
        if let Err(e) = inserted {
            return Err(if is_unique_violation(&e) {
                StoreError::conflict(
                    ProblemCode::EmailTaken.as_str(),
                    "an account with this email already exists",
                )
            } else {
                e.into()
            });
        }
        sqlx::query(
            "INSERT INTO workspaces (id, name, kind, personal_owner_id, status, plan, created_at, version) \
             VALUES ($1, $2, 'personal', $3, 'active', 'free', $4, $5)",
        )
        .bind(&workspace_id)
        .bind(&workspace_name)
        .bind(&user_id)
        .bind(now)
        .bind(version)
        .execute(&mut *work.tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) \
             VALUES ($1, $2, 'owner', $3, $4)",
        )
        .bind(&workspace_id)
        .bind(&user_id)
        .bind(now)
        .bind(version)
        .execute(&mut *work.tx)
        .await?;
        work.push(
            EntryKey::membership(&workspace_id, &user_id),
            Entry::Membership {
                role: Some(Role::Owner),
                projects: None,
            },
        )
        .await?;
        work.push(
            EntryKey::Workspace(workspace_id.clone()),
            Entry::Workspace {
                status: WorkspaceStatus::Active,
                plan: "free".to_string(),
                sign_in_methods: wrnexus_policies::SignInMethods::ALL,
                max_session_age_secs: None,
            },
        )
        .await?;
        work.push(
            EntryKey::User(user_id.clone()),
            Entry::User {
                disabled: false,
                email_verified: false,
            },
        )
        .await?;
        work.audit(
            AuditRecord::success(&workspace_id, "user.signed_up", &user_id)
                .with_detail(json!({ "email": email })),
        )
        .await?;
        if let Some(config) = verify {
            let issued = account_tokens::issue(
                &mut work,
                &user_id,
                Purpose::VerifyEmail,
                email,
                config.verification_ttl_secs,
            )
            .await?;
            let message = crate::mail::Message::VerifyEmail {
                email: email.to_string(),
                link: verify_link(config, &issued.token),
                expires_at: issued.expires_at,
                change: false,
            };
            super::mail::enqueue_message(&mut work, &workspace_id, email, &message).await?;
        }
        self.finish(work).await?;
        Ok(SignedUp {
            user: User {
                id: user_id,
                email: email.to_string(),
                password_hash: password_hash.to_string(),
                disabled: false,
                email_verified: false,
                last_workspace_id: Some(workspace_id.clone()),
            },
            workspace_id,
            workspace_name,
        })
    }

    #[tracing::instrument(name = "store.user_by_email", skip_all)]
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, email, password_hash, disabled_at, email_verified_at, last_workspace_id \
             FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    #[tracing::instrument(name = "store.user", skip_all)]
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, email, password_hash, disabled_at, email_verified_at, last_workspace_id \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// Where sign-in lands: the last-used workspace while the membership
    /// exists, else the personal workspace.
    #[tracing::instrument(name = "store.landing_workspace", skip_all)]
    pub async fn landing_workspace(&self, user: &User) -> Result<String, StoreError> {
        if let Some(last) = &user.last_workspace_id
            && self.role_of(last, &user.id).await?.is_some()
        {
            return Ok(last.clone());
        }
        let mut tx = self.read(Scope::user(&user.id)).await?;
        let personal: Option<String> =
            sqlx::query_scalar("SELECT id FROM workspaces WHERE personal_owner_id = $1")
                .bind(&user.id)
                .fetch_optional(&mut *tx)
                .await?;
        personal.ok_or(StoreError::NotFound {
            what: "personal workspace",
        })
    }

    /// Switch a session to `workspace_id`: check the membership, remember
    /// the workspace as the user's last-used one and audit
    /// `session.switched` there, in one transaction. The role, `None` (and
    /// nothing written) for a non-member.
    #[tracing::instrument(name = "store.switch_workspace", skip_all)]
    pub async fn switch_workspace(
        &self,
        user_id: &str,
        session_id: &str,
        workspace_id: &str,
        meta: &Meta,
    ) -> Result<Option<Role>, StoreError> {
        let meta = meta.with_actor(super::audit::ActorKind::User, user_id);
        let mut work = self
            .work(Scope::member(workspace_id, user_id), &meta)
            .await?;
        let Some(membership) = membership_in(&mut work, workspace_id, user_id).await? else {
            return Ok(None);
        };
        let from: Option<String> =
            sqlx::query_scalar("SELECT last_workspace_id FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *work.tx)
                .await?
                .flatten();
        sqlx::query("UPDATE users SET last_workspace_id = $1 WHERE id = $2")
            .bind(workspace_id)
            .bind(user_id)
            .execute(&mut *work.tx)
            .await?;
        work.audit(
            AuditRecord::success(workspace_id, "session.switched", user_id)
                .with_detail(json!({ "session_id": session_id, "from": from })),
        )
        .await?;
        self.finish(work).await?;
        Ok(Some(membership.role))
    }
}
