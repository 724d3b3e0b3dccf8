//! Memberships and invitations: who belongs to a workspace, with which role,
//! limited to which projects. A workspace always keeps at least one owner,
//! and an owner is never limited to projects.

use super::audit::{ActorKind, AuditRecord, Meta};
use super::demotion::follow_demotion;
use super::made_by::{Removal, Revoked, Why, lock_person, revoke_keys, withdraw_invitations};
pub use super::membership::Membership;
use super::membership::{membership_in, projects_of};
use super::projects::projects_of_workspace;
use super::work::{Scope, Work};
use super::workspaces::{lock_workspace, parse};
use super::{Store, StoreError};
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Entry, EntryKey, Role};

/// A member of a workspace.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    /// The projects the membership is limited to; absent: all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
}

/// What a member change sets: a role, project limits (`Some(None)`: every
/// project), or both.
#[derive(Debug, Clone, Default)]
pub struct MemberChange {
    pub role: Option<Role>,
    pub projects: Option<Option<Vec<String>>>,
}

async fn owner_count(work: &mut Work, workspace_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
    )
    .bind(workspace_id)
    .fetch_one(&mut *work.tx)
    .await?)
}

fn last_owner() -> StoreError {
    StoreError::conflict(
        ProblemCode::LastOwner.as_str(),
        "a workspace must keep at least one owner",
    )
}

fn owner_not_limitable() -> StoreError {
    StoreError::Invalid {
        code: ProblemCode::OwnerNotLimitable.as_str(),
        field: "projects",
        message: "an owner has every project: `projects` cannot limit an owner".to_string(),
    }
}

/// Write a role, audit and announce it (the caller pushes the entry). A
/// demotion lowers the keys behind the member here and withdraws their
/// invitations above the new role, in the same transaction; the audit row
/// names them.
async fn write_role(
    work: &mut Work,
    workspace_id: &str,
    user_id: &str,
    before: &Membership,
    role: Role,
) -> Result<(), StoreError> {
    let version = work.version().await?;
    sqlx::query(
        "UPDATE memberships SET role = $1, version = $2 WHERE workspace_id = $3 AND user_id = $4",
    )
    .bind(role.as_str())
    .bind(version)
    .bind(workspace_id)
    .bind(user_id)
    .execute(&mut *work.tx)
    .await?;
    // Roles order strongest first: a greater one is a demotion.
    let detail = if role > before.role {
        let lowered = follow_demotion(work, workspace_id, user_id, role).await?;
        json!({
            "from": before.role,
            "to": role,
            "api_keys": lowered.api_keys,
            "invitations": lowered.invitations,
        })
    } else {
        json!({ "from": before.role, "to": role })
    };
    work.audit(
        AuditRecord::success(workspace_id, "member.role_changed", user_id).with_detail(detail),
    )
    .await?;
    work.emit(
        workspace_id,
        "member.role_changed",
        json!({ "user_id": user_id, "from": before.role, "to": role }),
    )
    .await?;
    Ok(())
}

/// Push a membership's decision entry as it now stands.
async fn push_membership(
    work: &mut Work,
    workspace_id: &str,
    user_id: &str,
    membership: &Membership,
) -> Result<(), StoreError> {
    work.push(
        EntryKey::membership(workspace_id, user_id),
        Entry::Membership {
            role: Some(membership.role),
            projects: membership.projects.clone(),
        },
    )
    .await
}

impl Store {
    /// A user's membership of a workspace, `None` for a non-member.
    #[tracing::instrument(name = "store.membership", skip_all)]
    pub async fn membership(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> Result<Option<Membership>, StoreError> {
        let mut work = self
            .work(Scope::member(workspace_id, user_id), &Meta::system())
            .await?;
        membership_in(&mut work, workspace_id, user_id).await
    }

    /// A user's role in a workspace, `None` for a non-member.
    #[tracing::instrument(name = "store.role_of", skip_all)]
    pub async fn role_of(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> Result<Option<Role>, StoreError> {
        Ok(self
            .membership(workspace_id, user_id)
            .await?
            .map(|m| m.role))
    }

    #[tracing::instrument(name = "store.members", skip_all)]
    pub async fn members(&self, workspace_id: &str) -> Result<Vec<Member>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role, m.projects FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.email",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    role: parse(r.try_get("role")?)?,
                    projects: projects_of(r.try_get("projects")?),
                })
            })
            .collect()
    }

    /// Change a member's role and/or project limits, together or not at
    /// all, with an owner's authority (see [`Store::change_member_by`]).
    #[tracing::instrument(name = "store.change_member", skip_all)]
    pub async fn change_member(
        &self,
        workspace_id: &str,
        user_id: &str,
        change: &MemberChange,
        meta: &Meta,
    ) -> Result<Membership, StoreError> {
        self.change_member_by(workspace_id, user_id, change, true, meta)
            .await
    }

    /// Change a member's role and/or project limits, together or not at
    /// all. Only a caller who is an owner (`by_owner`) may touch an owner's
    /// membership (`OwnerRequired`, decided under the workspace lock). The
    /// last owner cannot be demoted (`last_owner`); an owner cannot be
    /// limited to projects (`owner_not_limitable`), and a member made owner
    /// loses their project limits.
    #[tracing::instrument(name = "store.change_member_by", skip_all)]
    pub async fn change_member_by(
        &self,
        workspace_id: &str,
        user_id: &str,
        change: &MemberChange,
        by_owner: bool,
        meta: &Meta,
    ) -> Result<Membership, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let Some(mut current) = membership_in(&mut work, workspace_id, user_id).await? else {
            return Err(StoreError::NotFound { what: "member" });
        };
        if current.role == Role::Owner && !by_owner {
            return Err(StoreError::OwnerRequired {
                what: if change.role.is_some() {
                    "grant or take away the owner role"
                } else {
                    "change an owner's project limits"
                },
            });
        }
        let owner_after = change.role.unwrap_or(current.role) == Role::Owner;
        if owner_after && matches!(change.projects, Some(Some(_))) {
            return Err(owner_not_limitable());
        }
        if let Some(role) = change.role
            && role != current.role
        {
            if current.role == Role::Owner && owner_count(&mut work, workspace_id).await? <= 1 {
                return Err(last_owner());
            }
            write_role(&mut work, workspace_id, user_id, &current, role).await?;
            current.role = role;
        }
        let projects = if owner_after && current.projects.is_some() {
            Some(None)
        } else {
            change.projects.clone()
        };
        if let Some(projects) = projects {
            current.projects =
                write_projects(&mut work, workspace_id, user_id, &current, projects).await?;
        }
        push_membership(&mut work, workspace_id, user_id, &current).await?;
        self.finish(work).await?;
        Ok(current)
    }

    /// Change a member's role only.
    #[tracing::instrument(name = "store.set_role", skip_all)]
    pub async fn set_role(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: Role,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let change = MemberChange {
            role: Some(role),
            projects: None,
        };
        self.change_member(workspace_id, user_id, &change, meta)
            .await
            .map(drop)
    }

    /// Hand the owner role from `from_user` to `to_user` (a member), who
    /// stays on as admin: one transaction, never a moment without an owner.
    #[tracing::instrument(name = "store.transfer_ownership", skip_all)]
    pub async fn transfer_ownership(
        &self,
        workspace_id: &str,
        from_user: &str,
        to_user: &str,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let from = membership_in(&mut work, workspace_id, from_user).await?;
        if from.as_ref().map(|m| m.role) != Some(Role::Owner) {
            return Err(StoreError::conflict(
                ProblemCode::OwnerRequired.as_str(),
                "only an owner can transfer ownership",
            ));
        }
        let Some(to) = membership_in(&mut work, workspace_id, to_user).await? else {
            return Err(StoreError::Invalid {
                code: ProblemCode::NotAMember.as_str(),
                field: "user_id",
                message: "`user_id` must name a member of this workspace".to_string(),
            });
        };
        if from_user == to_user {
            return Err(StoreError::Invalid {
                code: ProblemCode::SameUser.as_str(),
                field: "user_id",
                message: "`user_id` must name another member".to_string(),
            });
        }
        if let Some(from) = from {
            if to.role != Role::Owner || to.projects.is_some() {
                if to.role != Role::Owner {
                    write_role(&mut work, workspace_id, to_user, &to, Role::Owner).await?;
                }
                // An owner has every project.
                let projects = match to.projects {
                    Some(_) => write_projects(&mut work, workspace_id, to_user, &to, None).await?,
                    None => None,
                };
                let to = Membership {
                    role: Role::Owner,
                    projects,
                };
                push_membership(&mut work, workspace_id, to_user, &to).await?;
            }
            write_role(&mut work, workspace_id, from_user, &from, Role::Admin).await?;
            let from = Membership {
                role: Role::Admin,
                ..from
            };
            push_membership(&mut work, workspace_id, from_user, &from).await?;
        }
        work.audit(AuditRecord::success(
            workspace_id,
            "workspace.ownership_transferred",
            to_user,
        ))
        .await?;
        self.finish(work).await
    }

    /// Remove a member (or leave), with an owner's authority (see
    /// [`Store::remove_member_by`]).
    #[tracing::instrument(name = "store.remove_member", skip_all)]
    pub async fn remove_member(
        &self,
        workspace_id: &str,
        user_id: &str,
        meta: &Meta,
    ) -> Result<Removal, StoreError> {
        self.remove_member_by(workspace_id, user_id, true, meta)
            .await
    }

    /// Remove a member (or leave, when the actor is that member). Only a
    /// caller who is an owner (`by_owner`) may remove an owner other than
    /// themselves (`OwnerRequired`, decided under the workspace lock). The
    /// last owner cannot go (`last_owner`). The API keys of this workspace
    /// behind them and the invitations they (or those keys) sent that are
    /// still pending go with them, in the same transaction.
    #[tracing::instrument(name = "store.remove_member_by", skip_all)]
    pub async fn remove_member_by(
        &self,
        workspace_id: &str,
        user_id: &str,
        by_owner: bool,
        meta: &Meta,
    ) -> Result<Removal, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let Some(current) = membership_in(&mut work, workspace_id, user_id).await? else {
            return Err(StoreError::NotFound { what: "member" });
        };
        let left = meta.actor_kind == ActorKind::User && meta.actor_id.as_deref() == Some(user_id);
        if current.role == Role::Owner && !by_owner && !left {
            return Err(StoreError::OwnerRequired {
                what: "remove an owner",
            });
        }
        if current.role == Role::Owner && owner_count(&mut work, workspace_id).await? <= 1 {
            return Err(last_owner());
        }
        sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(workspace_id)
            .bind(user_id)
            .execute(&mut *work.tx)
            .await?;
        // After the workspace, before their keys: the order every taker of
        // both locks keeps.
        lock_person(&mut work, user_id).await?;
        let revoked = Revoked {
            api_keys: revoke_keys(&mut work, user_id, Some(workspace_id), Why::Removed).await?,
            invitations: withdraw_invitations(
                &mut work,
                Some(workspace_id),
                user_id,
                None,
                Why::Removed,
            )
            .await?,
        };
        work.audit(
            AuditRecord::success(workspace_id, "member.removed", user_id).with_detail(json!({
                "role": current.role,
                "left": left,
                "api_keys": revoked.api_keys,
                "invitations": revoked.invitations,
            })),
        )
        .await?;
        work.emit(
            workspace_id,
            "member.removed",
            json!({ "user_id": user_id, "role": current.role, "left": left }),
        )
        .await?;
        work.push(
            EntryKey::membership(workspace_id, user_id),
            Entry::Membership {
                role: None,
                projects: None,
            },
        )
        .await?;
        self.finish(work).await?;
        Ok(Removal {
            user_id: user_id.to_string(),
            role: current.role,
            left,
            revoked,
        })
    }
}

/// Limit a membership to named projects of its workspace (`None`: all):
/// every id must be a project of this workspace.
async fn write_projects(
    work: &mut Work,
    workspace_id: &str,
    user_id: &str,
    current: &Membership,
    projects: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, StoreError> {
    let projects = match projects {
        Some(p) => Some(projects_of_workspace(work, workspace_id, p, "projects").await?),
        None => None,
    };
    let version = work.version().await?;
    sqlx::query(
        "UPDATE memberships SET projects = $1, version = $2 \
         WHERE workspace_id = $3 AND user_id = $4",
    )
    .bind(projects.as_ref().map(|p| json!(p).to_string()))
    .bind(version)
    .bind(workspace_id)
    .bind(user_id)
    .execute(&mut *work.tx)
    .await?;
    work.audit(
        AuditRecord::success(workspace_id, "member.projects_changed", user_id)
            .with_detail(json!({ "from": current.projects, "to": projects })),
    )
    .await?;
    Ok(projects)
}
