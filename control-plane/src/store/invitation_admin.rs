//! Open invitations as a workspace's admins see and handle them: the list
//! (pending and expired ones), resending (a new token and a new expiry: the
//! old link stops working) and revoking. Each change is audited in the
//! workspace, in its own transaction.

use super::audit::{AuditRecord, Meta};
use super::invitations::{COLUMNS, InvitationStatus, Stored, inviter_email, mail_invitation};
use super::work::{Scope, Work};
use super::workspaces::lock_workspace;
use super::{Store, StoreError, now};
use serde_json::json;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::Role;

/// An open invitation, as the members page lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OpenInvitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// `pending`, or `expired` (which a resend opens again).
    pub status: InvitationStatus,
    /// Who invited: their email, else the id that invited (an API key
    /// nobody is behind).
    pub invited_by: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    /// When the link was last mailed (none: never mailed).
    pub last_sent_at: Option<i64>,
}

/// The open invitation `id` of `workspace_id`, locked with its workspace.
async fn open_one(work: &mut Work, workspace_id: &str, id: &str) -> Result<Stored, StoreError> {
    lock_workspace(work, workspace_id).await?;
    let sql = format!("SELECT {COLUMNS} FROM invitations WHERE workspace_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(&mut *work.tx)
        .await?;
    let stored = row
        .as_ref()
        .map(super::invitations::stored_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound { what: "invitation" })?;
    match stored.status(now()) {
        InvitationStatus::Pending | InvitationStatus::Expired => Ok(stored),
        _ => stored.require_pending().map(|()| stored),
    }
}

impl Store {
    /// The invitations of a workspace still open (pending or expired, not
    /// accepted, declined or revoked), newest first.
    #[tracing::instrument(name = "store.open_invitations", skip_all)]
    pub async fn open_invitations(
        &self,
        workspace_id: &str,
    ) -> Result<Vec<OpenInvitation>, StoreError> {
        let mut work = self
            .work(Scope::workspace(workspace_id), &Meta::system())
            .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL \
             AND declined_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .fetch_all(&mut *work.tx)
            .await?;
        let at = now();
        let mut open = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored = super::invitations::stored_from_row(row)?;
            let invited_by = inviter_email(&mut work, &stored.invited_by)
                .await?
                .unwrap_or_else(|| stored.invited_by.clone());
            open.push(OpenInvitation {
                status: stored.status(at),
                id: stored.invitation.id,
                email: stored.invitation.email,
                role: stored.invitation.role,
                invited_by,
                created_at: stored.created_at,
                expires_at: stored.invitation.expires_at,
                last_sent_at: stored.last_sent_at,
            });
        }
        self.finish(work).await?;
        Ok(open)
    }

    /// Mail an open invitation again under a new token (`token_hash`, whose
    /// link is `link`) that works for `ttl_secs`: the old link stops
    /// working.
    #[tracing::instrument(name = "store.resend_invitation", skip_all)]
    pub async fn resend_invitation(
        &self,
        workspace_id: &str,
        id: &str,
        token_hash: &str,
        ttl_secs: i64,
        link: &str,
        meta: &Meta,
    ) -> Result<OpenInvitation, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let mut stored = open_one(&mut work, workspace_id, id).await?;
        let at = now();
        let expires_at = at.saturating_add(ttl_secs);
        sqlx::query(
            "UPDATE invitations SET token_hash = $1, expires_at = $2, last_sent_at = $3 \
             WHERE workspace_id = $4 AND id = $5",
        )
        .bind(token_hash)
        .bind(expires_at)
        .bind(at)
        .bind(workspace_id)
        .bind(id)
        .execute(&mut *work.tx)
        .await?;
        stored.invitation.expires_at = expires_at;
        stored.last_sent_at = Some(at);
        mail_invitation(&mut work, &stored, link).await?;
        work.audit(
            AuditRecord::success(workspace_id, "invitation.resent", id)
                .with_detail(json!({ "email": stored.invitation.email })),
        )
        .await?;
        let invited_by = inviter_email(&mut work, &stored.invited_by)
            .await?
            .unwrap_or_else(|| stored.invited_by.clone());
        self.finish(work).await?;
        Ok(OpenInvitation {
            status: InvitationStatus::Pending,
            id: stored.invitation.id,
            email: stored.invitation.email,
            role: stored.invitation.role,
            invited_by,
            created_at: stored.created_at,
            expires_at,
            last_sent_at: Some(at),
        })
    }

    /// Withdraw an open invitation: its link says so from now on.
    #[tracing::instrument(name = "store.revoke_invitation", skip_all)]
    pub async fn revoke_invitation(
        &self,
        workspace_id: &str,
        id: &str,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let stored = open_one(&mut work, workspace_id, id).await?;
        let revoked = sqlx::query(
            "UPDATE invitations SET revoked_at = $1 WHERE workspace_id = $2 AND id = $3 \
             AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(workspace_id)
        .bind(id)
        .execute(&mut *work.tx)
        .await?;
        if revoked.rows_affected() == 0 {
            return Err(StoreError::conflict(
                ProblemCode::InvitationRevoked.as_str(),
                "this invitation was already withdrawn",
            ));
        }
        work.audit(
            AuditRecord::success(workspace_id, "invitation.revoked", id)
                .with_detail(json!({ "email": stored.invitation.email, "reason": "revoked" })),
        )
        .await?;
        self.finish(work).await
    }
}
