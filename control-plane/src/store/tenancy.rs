//! Workspaces, memberships and invitations. Every query names its workspace.

use super::{Changes, Store, StoreError, new_id, next_version, now};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::str::FromStr;
use wrnexus_policies::{Entry, EntryKey, Role, VersionedEntry, WorkspaceStatus};

/// A workspace as its members see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: WorkspaceStatus,
    pub plan: String,
}

/// A workspace with the caller's role in it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MyWorkspace {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub role: Role,
}

/// A member of a workspace.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

/// An accepted or pending invitation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invitation {
    pub id: String,
    pub workspace_id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: i64,
}

fn parse<T: FromStr>(value: String) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    T::from_str(&value).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn workspace_from_row(row: &AnyRow) -> Result<Workspace, sqlx::Error> {
    Ok(Workspace {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        status: parse(row.try_get("status")?)?,
        plan: row.try_get("plan")?,
    })
}

fn membership(
    workspace_id: &str,
    user_id: &str,
    version: i64,
    role: Option<Role>,
) -> (EntryKey, VersionedEntry) {
    (
        EntryKey::membership(workspace_id, user_id),
        VersionedEntry {
            version,
            entry: Entry::Membership { role },
        },
    )
}

/// Lock the workspace row for the rest of the transaction, so concurrent
/// membership changes of one workspace run one after another.
async fn lock_workspace(
    tx: &mut Transaction<'static, Any>,
    workspace_id: &str,
    version: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE workspaces SET version = $1 WHERE id = $2")
        .bind(version)
        .bind(workspace_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound { what: "workspace" });
    }
    Ok(())
}

async fn role_in(
    tx: &mut Transaction<'static, Any>,
    workspace_id: &str,
    user_id: &str,
) -> Result<Option<Role>, StoreError> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(workspace_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(role.map(parse).transpose()?)
}

async fn owner_count(
    tx: &mut Transaction<'static, Any>,
    workspace_id: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
    )
    .bind(workspace_id)
    .fetch_one(&mut **tx)
    .await?)
}

impl Store {
    /// A user's role in a workspace, `None` for a non-member.
    pub async fn role_of(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> Result<Option<Role>, StoreError> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(role.map(parse).transpose()?)
    }

    pub async fn workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError> {
        let row = sqlx::query("SELECT id, name, kind, status, plan FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(workspace_from_row).transpose()?)
    }

    /// The workspaces a user belongs to: personal first, then teams by name.
    pub async fn workspaces_of(&self, user_id: &str) -> Result<Vec<MyWorkspace>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.id, w.name, w.kind, w.status, w.plan, m.role FROM memberships m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 \
             ORDER BY CASE WHEN w.kind = 'personal' THEN 0 ELSE 1 END, w.name, w.id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MyWorkspace {
                    workspace: workspace_from_row(r)?,
                    role: parse(r.try_get("role")?)?,
                })
            })
            .collect()
    }

    /// Create a team workspace; its creator becomes the owner.
    pub async fn create_team_workspace(
        &self,
        owner_id: &str,
        name: &str,
    ) -> Result<Workspace, StoreError> {
        let mut tx = self.begin().await?;
        let version = next_version(&mut tx).await?;
        let id = new_id();
        sqlx::query(
            "INSERT INTO workspaces (id, name, kind, status, plan, created_at, version) \
             VALUES ($1, $2, 'team', 'active', 'free', $3, $4)",
        )
        .bind(&id)
        .bind(name)
        .bind(now())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) VALUES ($1, $2, 'owner', $3, $4)",
        )
        .bind(&id)
        .bind(owner_id)
        .bind(now())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        let workspace = Workspace {
            id: id.clone(),
            name: name.to_string(),
            kind: "team".to_string(),
            status: WorkspaceStatus::Active,
            plan: "free".to_string(),
        };
        let changes = vec![
            membership(&id, owner_id, version, Some(Role::Owner)),
            (
                EntryKey::Workspace(id.clone()),
                VersionedEntry {
                    version,
                    entry: Entry::Workspace {
                        status: WorkspaceStatus::Active,
                        plan: workspace.plan.clone(),
                    },
                },
            ),
        ];
        self.commit(tx, changes).await?;
        Ok(workspace)
    }

    pub async fn members(&self, workspace_id: &str) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 ORDER BY u.email",
        )
        .bind(workspace_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    role: parse(r.try_get("role")?)?,
                })
            })
            .collect()
    }

    /// Invite an email address; returns the invitation (its token is only
    /// stored hashed). Inviting a current member is a conflict.
    pub async fn create_invitation(
        &self,
        workspace_id: &str,
        email: &str,
        role: Role,
        invited_by: &str,
        token_hash: &str,
        ttl_secs: i64,
    ) -> Result<Invitation, StoreError> {
        let mut tx = self.begin().await?;
        let member: Option<String> = sqlx::query_scalar(
            "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 AND u.email = $2",
        )
        .bind(workspace_id)
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
        if member.is_some() {
            return Err(StoreError::conflict(
                "already_member",
                format!("`{email}` is already a member of this workspace"),
            ));
        }
        let id = new_id();
        let expires_at = now().saturating_add(ttl_secs);
        sqlx::query(
            "INSERT INTO invitations (id, token_hash, workspace_id, email, role, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(token_hash)
        .bind(workspace_id)
        .bind(email)
        .bind(role.as_str())
        .bind(invited_by)
        .bind(now())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Vec::new()).await?;
        Ok(Invitation {
            id,
            workspace_id: workspace_id.to_string(),
            email: email.to_string(),
            role,
            expires_at,
        })
    }

    /// Accept an invitation as `user_id` (whose email must match): creates
    /// the membership and spends the token, together.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        user_id: &str,
        user_email: &str,
    ) -> Result<Invitation, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT id, workspace_id, email, role, expires_at, accepted_at FROM invitations WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
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
        if row.try_get::<Option<i64>, _>("accepted_at")?.is_some() || invitation.expires_at < now()
        {
            return Err(StoreError::conflict(
                "invitation_spent",
                "this invitation was already used or has expired",
            ));
        }
        if !invitation.email.eq_ignore_ascii_case(user_email) {
            return Err(StoreError::conflict(
                "invitation_email_mismatch",
                "this invitation was sent to another email address",
            ));
        }
        let version = next_version(&mut tx).await?;
        lock_workspace(&mut tx, &invitation.workspace_id, version).await?;
        if role_in(&mut tx, &invitation.workspace_id, user_id)
            .await?
            .is_some()
        {
            return Err(StoreError::conflict(
                "already_member",
                "you are already a member of this workspace",
            ));
        }
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&invitation.workspace_id)
        .bind(user_id)
        .bind(invitation.role.as_str())
        .bind(now())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE invitations SET accepted_at = $1 WHERE id = $2")
            .bind(now())
            .bind(&invitation.id)
            .execute(&mut *tx)
            .await?;
        let changes = vec![membership(
            &invitation.workspace_id,
            user_id,
            version,
            Some(invitation.role),
        )];
        self.commit(tx, changes).await?;
        Ok(invitation)
    }

    /// Change a member's role. The last owner cannot be demoted (`last_owner`).
    pub async fn set_role(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let version = next_version(&mut tx).await?;
        lock_workspace(&mut tx, workspace_id, version).await?;
        let Some(current) = role_in(&mut tx, workspace_id, user_id).await? else {
            return Err(StoreError::NotFound { what: "member" });
        };
        if current == Role::Owner
            && role != Role::Owner
            && owner_count(&mut tx, workspace_id).await? <= 1
        {
            return Err(StoreError::conflict(
                "last_owner",
                "a workspace must keep at least one owner",
            ));
        }
        sqlx::query("UPDATE memberships SET role = $1, version = $2 WHERE workspace_id = $3 AND user_id = $4")
            .bind(role.as_str())
            .bind(version)
            .bind(workspace_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let changes: Changes = vec![membership(workspace_id, user_id, version, Some(role))];
        self.commit(tx, changes).await
    }

    /// Remove a member. The last owner cannot be removed (`last_owner`).
    pub async fn remove_member(&self, workspace_id: &str, user_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let version = next_version(&mut tx).await?;
        lock_workspace(&mut tx, workspace_id, version).await?;
        let Some(current) = role_in(&mut tx, workspace_id, user_id).await? else {
            return Err(StoreError::NotFound { what: "member" });
        };
        if current == Role::Owner && owner_count(&mut tx, workspace_id).await? <= 1 {
            return Err(StoreError::conflict(
                "last_owner",
                "a workspace must keep at least one owner",
            ));
        }
        sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(workspace_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let changes: Changes = vec![membership(workspace_id, user_id, version, None)];
        self.commit(tx, changes).await
    }

    /// Suspend or reactivate a workspace: one state change, pushed to every gateway.
    pub async fn set_workspace_status(
        &self,
        workspace_id: &str,
        status: WorkspaceStatus,
    ) -> Result<Workspace, StoreError> {
        let mut tx = self.begin().await?;
        let version = next_version(&mut tx).await?;
        let row = sqlx::query(
            "UPDATE workspaces SET status = $1, version = $2 WHERE id = $3 RETURNING id, name, kind, status, plan",
        )
        .bind(status.as_str())
        .bind(version)
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "workspace" });
        };
        let workspace = workspace_from_row(&row)?;
        let changes = vec![(
            EntryKey::Workspace(workspace.id.clone()),
            VersionedEntry {
                version,
                entry: Entry::Workspace {
                    status,
                    plan: workspace.plan.clone(),
                },
            },
        )];
        self.commit(tx, changes).await?;
        Ok(workspace)
    }
}
