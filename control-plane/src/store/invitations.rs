//! Invitations: a single-use, expiring token (stored hashed) that turns
//! into a membership when the invited person accepts it.

use super::audit::{AuditRecord, Meta};
use super::membership::membership_in;
use super::work::Scope;
use super::workspaces::{lock_workspace, parse};
use super::{Store, StoreError, new_id, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Entry, EntryKey, Role};

/// An accepted or pending invitation.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: i64,
}

impl Store {
    /// Invite an email address; the token is only stored hashed. Inviting a
    /// current member is a conflict (`already_member`).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_invitation(
        &self,
        workspace_id: &str,
        email: &str,
        role: Role,
        token_hash: &str,
        ttl_secs: i64,
        meta: &Meta,
    ) -> Result<Invitation, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let member: Option<String> = sqlx::query_scalar(
            "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 AND u.email = $2",
        )
        .bind(workspace_id)
        .bind(email)
        .fetch_optional(&mut *work.tx)
        .await?;
        if member.is_some() {
            return Err(StoreError::conflict(
                ProblemCode::AlreadyMember.as_str(),
                format!("`{email}` is already a member of this workspace"),
            ));
        }
        let id = new_id();
        let expires_at = now().saturating_add(ttl_secs);
        sqlx::query(
            "INSERT INTO invitations (id, token_hash, workspace_id, email, role, invited_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(token_hash)
        .bind(workspace_id)
        .bind(email)
        .bind(role.as_str())
        .bind(meta.actor_id.as_deref().unwrap_or(""))
        .bind(now())
        .bind(expires_at)
        .execute(&mut *work.tx)
        .await?;
        let invitation = Invitation {
            id,
            workspace_id: workspace_id.to_string(),
            email: email.to_string(),
            role,
            expires_at,
        };
        work.audit(
            AuditRecord::success(workspace_id, "invitation.created", &invitation.id)
                .with_detail(json!({ "email": email, "role": role })),
        )
        .await?;
        work.emit(
            workspace_id,
            "invitation.created",
            json!({ "invitation": &invitation }),
        )
        .await?;
        self.finish(work).await?;
        Ok(invitation)
    }

    /// Accept an invitation as `user_id` (whose email must match): creates
    /// the membership and spends the token, together.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        user_id: &str,
        user_email: &str,
        meta: &Meta,
    ) -> Result<Invitation, StoreError> {
        // The token is the only key: look it up across workspaces, then work
        // in the invitation's own workspace.
        let mut work = self.work(Scope::system(), meta).await?;
        let row = sqlx::query(
            "SELECT id, workspace_id, email, role, expires_at, accepted_at, revoked_at \
             FROM invitations WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *work.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "invitation" });
        };
        let invitation = Invitation {
            id: row.try_get("id")?,
            workspace_id: row.try_get("workspace_id")?,
            email: row.try_get("email")?,
            role: parse(row.try_get("role")?)?,
            expires_at: row.try_get("expires_at")?,
        };
        work.scope(Scope::member(&invitation.workspace_id, user_id))
            .await?;
        if row.try_get::<Option<i64>, _>("accepted_at")?.is_some() {
            return Err(StoreError::conflict(
                ProblemCode::InvitationSpent.as_str(),
                "this invitation was already used",
            ));
        }
        if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Err(StoreError::conflict(
                ProblemCode::InvitationRevoked.as_str(),
                "this invitation was withdrawn: ask for a new one",
            ));
        }
        if invitation.expires_at < now() {
            return Err(StoreError::conflict(
                ProblemCode::InvitationExpired.as_str(),
                "this invitation has expired: ask for a new one",
            ));
        }
        if !invitation.email.eq_ignore_ascii_case(user_email) {
            return Err(StoreError::conflict(
                ProblemCode::InvitationEmailMismatch.as_str(),
                "this invitation was sent to another email address",
            ));
        }
        let workspace_id = invitation.workspace_id.clone();
        lock_workspace(&mut work, &workspace_id).await?;
        if membership_in(&mut work, &workspace_id, user_id)
            .await?
            .is_some()
        {
            return Err(StoreError::conflict(
                ProblemCode::AlreadyMember.as_str(),
                "you are already a member of this workspace",
            ));
        }
        let version = work.version().await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&workspace_id)
        .bind(user_id)
        .bind(invitation.role.as_str())
        .bind(now())
        .bind(version)
        .execute(&mut *work.tx)
        .await?;
        sqlx::query("UPDATE invitations SET accepted_at = $1 WHERE id = $2")
            .bind(now())
            .bind(&invitation.id)
            .execute(&mut *work.tx)
            .await?;
        work.audit(
            AuditRecord::success(&workspace_id, "member.added", user_id)
                .with_detail(json!({ "role": invitation.role, "invitation_id": invitation.id })),
        )
        .await?;
        work.emit(
            &workspace_id,
            "member.added",
            json!({ "user_id": user_id, "email": user_email, "role": invitation.role }),
        )
        .await?;
        work.push(
            EntryKey::membership(&workspace_id, user_id),
            Entry::Membership {
                role: Some(invitation.role),
                projects: None,
            },
        )
        .await?;
        self.finish(work).await?;
        Ok(invitation)
    }
}
