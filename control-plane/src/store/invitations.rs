//! Invitations: a single-use, expiring token (stored hashed) that turns
//! into a membership when the invited person accepts it. Creating one
//! mails the link in the same transaction; the invitee (anyone holding the
//! link) may decline it. What admins do with pending ones (list, resend,
//! revoke) is in [`super::invitation_admin`].

use super::audit::{AuditRecord, Meta};
use super::membership::membership_in;
use super::work::{Scope, Work};
use super::workspaces::{lock_workspace, parse};
use super::{Store, StoreError, new_id, now};
use crate::mail::Message;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
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

/// Where an invitation stands, in this order: used, turned down,
/// withdrawn, out of time, or still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Declined => "declined",
            InvitationStatus::Revoked => "revoked",
            InvitationStatus::Expired => "expired",
        }
    }
}

/// An invitation row, with everything that decides its status.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub invitation: Invitation,
    /// A user id, or the id of the API key that invited.
    pub invited_by: String,
    pub created_at: i64,
    pub last_sent_at: Option<i64>,
    accepted_at: Option<i64>,
    declined_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// The columns [`stored_from_row`] reads.
pub(crate) const COLUMNS: &str = "id, workspace_id, email, role, invited_by, created_at, \
     expires_at, accepted_at, declined_at, revoked_at, last_sent_at";

pub(crate) fn stored_from_row(row: &AnyRow) -> Result<Stored, sqlx::Error> {
    Ok(Stored {
        invitation: Invitation {
            id: row.try_get("id")?,
            workspace_id: row.try_get("workspace_id")?,
            email: row.try_get("email")?,
            role: parse(row.try_get("role")?)?,
            expires_at: row.try_get("expires_at")?,
        },
        invited_by: row.try_get("invited_by")?,
        created_at: row.try_get("created_at")?,
        last_sent_at: row.try_get("last_sent_at")?,
        accepted_at: row.try_get("accepted_at")?,
        declined_at: row.try_get("declined_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Stored {
    pub fn status(&self, at: i64) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.declined_at.is_some() {
            InvitationStatus::Declined
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if self.invitation.expires_at < at {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    /// Refuse anything but a pending invitation, saying why.
    pub fn require_pending(&self) -> Result<(), StoreError> {
        let (code, message) = match self.status(now()) {
            InvitationStatus::Pending => return Ok(()),
            InvitationStatus::Accepted => (
                ProblemCode::InvitationSpent,
                "this invitation was already used",
            ),
            InvitationStatus::Declined => (
                ProblemCode::InvitationDeclined,
                "this invitation was declined: ask for a new one",
            ),
            InvitationStatus::Revoked => (
                ProblemCode::InvitationRevoked,
                "this invitation was withdrawn: ask for a new one",
            ),
            InvitationStatus::Expired => (
                ProblemCode::InvitationExpired,
                "this invitation has expired: ask for a new one",
            ),
        };
        Err(StoreError::conflict(code.as_str(), message))
    }
}

/// What anyone holding an invitation's link may know of it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct InvitationPreview {
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    /// Unix seconds.
    pub expires_at: i64,
    /// Who invited: their email (none when it was an API key nobody is
    /// behind).
    #[serde(skip)]
    pub inviter: Option<String>,
    #[serde(skip)]
    pub workspace_id: String,
}

/// The invitation whose token hashes to `token_hash`, in any workspace.
#[tracing::instrument(name = "store.stored_by_token", skip_all)]
pub(crate) async fn stored_by_token(
    work: &mut Work,
    token_hash: &str,
) -> Result<Option<Stored>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM invitations WHERE token_hash = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .fetch_optional(&mut *work.tx)
        .await?;
    Ok(row.as_ref().map(stored_from_row).transpose()?)
}

/// The email of whoever `invited_by` names: a user, or the person behind
/// an API key.
#[tracing::instrument(name = "store.inviter_email", skip_all)]
pub(crate) async fn inviter_email(
    work: &mut Work,
    invited_by: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM users WHERE id = \
         COALESCE((SELECT created_by_user FROM api_keys WHERE id = $1), $1)",
    )
    .bind(invited_by)
    .fetch_optional(&mut *work.tx)
    .await?)
}

async fn workspace_name(work: &mut Work, workspace_id: &str) -> Result<String, StoreError> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(&mut *work.tx)
        .await?;
    name.ok_or(StoreError::NotFound { what: "workspace" })
}

/// Queue the invitation's mail (with `link`, which carries the token) in
/// the unit's transaction.
#[tracing::instrument(name = "store.mail_invitation", skip_all)]
pub(crate) async fn mail_invitation(
    work: &mut Work,
    stored: &Stored,
    link: &str,
) -> Result<(), StoreError> {
    let invitation = &stored.invitation;
    let workspace_name = workspace_name(work, &invitation.workspace_id).await?;
    let inviter = inviter_email(work, &stored.invited_by)
        .await?
        .unwrap_or_else(|| format!("an administrator of {workspace_name}"));
    let message = Message::Invitation {
        email: invitation.email.clone(),
        workspace_name,
        inviter,
        role: invitation.role.as_str().to_string(),
        link: link.to_string(),
        expires_at: invitation.expires_at,
    };
    super::mail::enqueue_message(work, &invitation.workspace_id, &invitation.email, &message).await
}

/// Why an invitation read as pending could not be settled under the lock:
/// what it became meanwhile (used, declined, withdrawn, out of time), or,
/// or, when a resend gave it a new token, not found (like any old link).
async fn settled_meanwhile(work: &mut Work, id: &str) -> StoreError {
    let sql = format!("SELECT {COLUMNS} FROM invitations WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *work.tx)
        .await;
    match row {
        Ok(Some(row)) => match stored_from_row(&row) {
            Ok(now_stored) => match now_stored.require_pending() {
                Err(e) => e,
                Ok(()) => StoreError::NotFound { what: "invitation" },
            },
            Err(e) => e.into(),
        },
        Ok(None) => StoreError::NotFound { what: "invitation" },
        Err(e) => e.into(),
    }
}

/// A new invitation: who to, to what role, its token's hash, how long it
/// works, and the link mailed (none: not mailed).
#[derive(Debug, Clone, Copy)]
pub struct NewInvitation<'a> {
    pub workspace_id: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub ttl_secs: i64,
    pub link: Option<&'a str>,
}

impl Store {
    /// Invite an email address, without mailing it; the token is only
    /// stored hashed. See [`Store::invite`].
    #[tracing::instrument(name = "store.create_invitation", skip_all)]
    pub async fn create_invitation(
        &self,
        workspace_id: &str,
        email: &str,
        role: Role,
        token_hash: &str,
        ttl_secs: i64,
        meta: &Meta,
    ) -> Result<Invitation, StoreError> {
        let new = NewInvitation {
            workspace_id,
            email,
            role,
            token_hash,
            ttl_secs,
            link: None,
        };
        self.invite(&new, meta).await
    }

    /// Invite an email address and mail it the link, together. Inviting a
    /// current member is a conflict (`already_member`).
    #[tracing::instrument(name = "store.invite", skip_all)]
    pub async fn invite(
        &self,
        new: &NewInvitation<'_>,
        meta: &Meta,
    ) -> Result<Invitation, StoreError> {
        let workspace_id = new.workspace_id;
        let email = new.email;
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
        let at = now();
        let expires_at = at.saturating_add(new.ttl_secs);
        let invited_by = meta.actor_id.clone().unwrap_or_default();
        sqlx::query(
            "INSERT INTO invitations (id, token_hash, workspace_id, email, role, invited_by, \
             created_at, expires_at, last_sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(new.token_hash)
        .bind(workspace_id)
        .bind(email)
        .bind(new.role.as_str())
        .bind(&invited_by)
        .bind(at)
        .bind(expires_at)
        .bind(new.link.map(|_| at))
        .execute(&mut *work.tx)
        .await?;
        let invitation = Invitation {
            id,
            workspace_id: workspace_id.to_string(),
            email: email.to_string(),
            role: new.role,
            expires_at,
        };
        if let Some(link) = new.link {
            let stored = Stored {
                invitation: invitation.clone(),
                invited_by,
                created_at: at,
                last_sent_at: Some(at),
                accepted_at: None,
                declined_at: None,
                revoked_at: None,
            };
            mail_invitation(&mut work, &stored, link).await?;
        }
        work.audit(
            AuditRecord::success(workspace_id, "invitation.created", &invitation.id).with_detail(
                json!({ "email": email, "role": new.role, "mailed": new.link.is_some() }),
            ),
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

    /// What the holder of a link may see of its invitation (none: no
    /// invitation has this token, or it was replaced by a resend).
    #[tracing::instrument(name = "store.invitation_preview", skip_all)]
    pub async fn invitation_preview(
        &self,
        token_hash: &str,
    ) -> Result<Option<InvitationPreview>, StoreError> {
        let mut work = self.work(Scope::system(), &Meta::system()).await?;
        let Some(stored) = stored_by_token(&mut work, token_hash).await? else {
            return Ok(None);
        };
        let invitation = &stored.invitation;
        let workspace_name = workspace_name(&mut work, &invitation.workspace_id).await?;
        let inviter = inviter_email(&mut work, &stored.invited_by).await?;
        self.finish(work).await?;
        Ok(Some(InvitationPreview {
            workspace_name,
            email: invitation.email.clone(),
            role: invitation.role,
            status: stored.status(now()),
            expires_at: invitation.expires_at,
            inviter,
            workspace_id: invitation.workspace_id.clone(),
        }))
    }

    /// Decline an invitation (anyone holding its link may): it can no
    /// longer be accepted, and the workspace's log says so.
    #[tracing::instrument(name = "store.decline_invitation", skip_all)]
    pub async fn decline_invitation(
        &self,
        token_hash: &str,
        meta: &Meta,
    ) -> Result<Invitation, StoreError> {
        let mut work = self.work(Scope::system(), meta).await?;
        let Some(stored) = stored_by_token(&mut work, token_hash).await? else {
            return Err(StoreError::NotFound { what: "invitation" });
        };
        let workspace_id = stored.invitation.workspace_id.clone();
        work.scope(Scope::workspace(&workspace_id)).await?;
        lock_workspace(&mut work, &workspace_id).await?;
        stored.require_pending()?;
        // Declined under the lock, only if nobody accepted, declined,
        // withdrew or re-sent it since it was read: else it says what
        // happened, and nothing is recorded.
        let declined = sqlx::query(
            "UPDATE invitations SET declined_at = $1 WHERE id = $2 AND workspace_id = $3 \
             AND accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL \
             AND token_hash = $4",
        )
        .bind(now())
        .bind(&stored.invitation.id)
        .bind(&workspace_id)
        .bind(token_hash)
        .execute(&mut *work.tx)
        .await?;
        if declined.rows_affected() == 0 {
            return Err(settled_meanwhile(&mut work, &stored.invitation.id).await);
        }
        work.audit(
            AuditRecord::success(&workspace_id, "invitation.declined", &stored.invitation.id)
                .with_detail(json!({ "email": stored.invitation.email })),
        )
        .await?;
        self.finish(work).await?;
        Ok(stored.invitation)
    }

    /// Accept an invitation as `user_id` (whose email must match): creates
    /// the membership and spends the token, together.
    #[tracing::instrument(name = "store.accept_invitation", skip_all)]
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
        let Some(stored) = stored_by_token(&mut work, token_hash).await? else {
            return Err(StoreError::NotFound { what: "invitation" });
        };
        let invitation = stored.invitation.clone();
        work.scope(Scope::member(&invitation.workspace_id, user_id))
            .await?;
        stored.require_pending()?;
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
        // Spent under the lock, only if nobody spent, declined or withdrew
        // it meanwhile, and only while this token (not one a resend
        // replaced it with) is its token and still in time.
        let at = now();
        let spent = sqlx::query(
            "UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL \
             AND declined_at IS NULL AND revoked_at IS NULL AND token_hash = $3 \
             AND expires_at >= $1",
        )
        .bind(at)
        .bind(&invitation.id)
        .bind(token_hash)
        .execute(&mut *work.tx)
        .await?;
        if spent.rows_affected() == 0 {
            return Err(settled_meanwhile(&mut work, &invitation.id).await);
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
