//! Workspaces: read, list mine, create, rename, delete, suspend. Every query
//! names its workspace (or, for "mine", its user).

use super::audit::AuditRecord;
use super::work::{Scope, Work};
use super::{Store, StoreError, new_id, now};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::str::FromStr;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Entry, EntryKey, Role, SignInMethods, WorkspaceStatus};

/// A workspace as its members see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: WorkspaceStatus,
    pub plan: String,
    /// Its sign-in policy, carried into the pushed entry (shown by its own
    /// endpoint, `/v1/workspaces/{id}/sign-in-policy`).
    #[serde(skip)]
    pub sign_in_methods: SignInMethods,
    #[serde(skip)]
    pub max_session_age_secs: Option<i64>,
}

/// A workspace with the caller's role in it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MyWorkspace {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub role: Role,
}

pub(crate) fn parse<T: FromStr>(value: String) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    T::from_str(&value).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

pub(crate) fn workspace_from_row(row: &AnyRow) -> Result<Workspace, sqlx::Error> {
    Ok(Workspace {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        status: parse(row.try_get("status")?)?,
        plan: row.try_get("plan")?,
        sign_in_methods: SignInMethods::parse_list(&row.try_get::<String, _>("sign_in_methods")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        max_session_age_secs: row.try_get("max_session_age_secs")?,
    })
}

/// The workspace's decision entry.
pub(crate) fn workspace_entry(workspace: &Workspace) -> Entry {
    Entry::Workspace {
        status: workspace.status,
        plan: workspace.plan.clone(),
        sign_in_methods: workspace.sign_in_methods,
        max_session_age_secs: workspace.max_session_age_secs,
    }
}

/// Lock the workspace row for the rest of the transaction (and give it this
/// unit's version), so concurrent changes of one workspace run one after
/// another: two demotions cannot both see two owners.
#[tracing::instrument(name = "store.lock_workspace", skip_all)]
pub(crate) async fn lock_workspace(
    work: &mut Work,
    workspace_id: &str,
) -> Result<Workspace, StoreError> {
    let version = work.version().await?;
    let row = sqlx::query(
        "UPDATE workspaces SET version = $1 WHERE id = $2 \
         RETURNING id, name, kind, status, plan, sign_in_methods, max_session_age_secs",
    )
    .bind(version)
    .bind(workspace_id)
    .fetch_optional(&mut *work.tx)
    .await?;
    match row {
        Some(row) => Ok(workspace_from_row(&row)?),
        None => Err(StoreError::NotFound { what: "workspace" }),
    }
}

impl Store {
    #[tracing::instrument(name = "store.workspace", skip_all)]
    pub async fn workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError> {
        let mut tx = self.read(Scope::workspace(id)).await?;
        let row = sqlx::query(
            "SELECT id, name, kind, status, plan, sign_in_methods, max_session_age_secs \
             FROM workspaces WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.as_ref().map(workspace_from_row).transpose()?)
    }

    /// The workspaces a user belongs to: personal first, then teams by name.
    #[tracing::instrument(name = "store.workspaces_of", skip_all)]
    pub async fn workspaces_of(&self, user_id: &str) -> Result<Vec<MyWorkspace>, StoreError> {
        let mut tx = self.read(Scope::user(user_id)).await?;
        let rows = sqlx::query(
            "SELECT w.id, w.name, w.kind, w.status, w.plan, w.sign_in_methods, \
             w.max_session_age_secs, m.role FROM memberships m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 \
             ORDER BY CASE WHEN w.kind = 'personal' THEN 0 ELSE 1 END, w.name, w.id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
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
    #[tracing::instrument(name = "store.create_team_workspace", skip_all)]
    pub async fn create_team_workspace(
        &self,
        owner_id: &str,
        name: &str,
        meta: &super::audit::Meta,
    ) -> Result<Workspace, StoreError> {
        let id = new_id();
        let mut work = self.work(Scope::workspace(&id), meta).await?;
        let version = work.version().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, kind, status, plan, created_at, version) \
             VALUES ($1, $2, 'team', 'active', 'free', $3, $4)",
        )
        .bind(&id)
        .bind(name)
        .bind(now())
        .bind(version)
        .execute(&mut *work.tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) \
             VALUES ($1, $2, 'owner', $3, $4)",
        )
        .bind(&id)
        .bind(owner_id)
        .bind(now())
        .bind(version)
        .execute(&mut *work.tx)
        .await?;
        let workspace = Workspace {
            id: id.clone(),
            name: name.to_string(),
            kind: "team".to_string(),
            status: WorkspaceStatus::Active,
            plan: "free".to_string(),
            sign_in_methods: SignInMethods::ALL,
            max_session_age_secs: None,
        };
        work.audit(
            AuditRecord::success(&id, "workspace.created", &id)
                .with_detail(json!({ "name": name })),
        )
        .await?;
        work.emit(&id, "workspace.created", json!({ "workspace": &workspace }))
            .await?;
        work.push(
            EntryKey::membership(&id, owner_id),
            Entry::Membership {
                role: Some(Role::Owner),
                projects: None,
            },
        )
        .await?;
        work.push(EntryKey::Workspace(id.clone()), workspace_entry(&workspace))
            .await?;
        self.finish(work).await?;
        Ok(workspace)
    }

    /// Rename a workspace.
    #[tracing::instrument(name = "store.rename_workspace", skip_all)]
    pub async fn rename_workspace(
        &self,
        id: &str,
        name: &str,
        meta: &super::audit::Meta,
    ) -> Result<Workspace, StoreError> {
        let mut work = self.work(Scope::workspace(id), meta).await?;
        let before = lock_workspace(&mut work, id).await?;
        sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *work.tx)
            .await?;
        let workspace = Workspace {
            name: name.to_string(),
            ..before.clone()
        };
        work.audit(
            AuditRecord::success(id, "workspace.renamed", id)
                .with_detail(json!({ "from": before.name, "to": name })),
        )
        .await?;
        work.emit(id, "workspace.renamed", json!({ "workspace": &workspace }))
            .await?;
        self.finish(work).await?;
        Ok(workspace)
    }

    /// Delete a team workspace. Memberships, invitations, projects, API keys
    /// and webhook endpoints go with it (every gateway hears at once that
    /// its members, keys and projects are gone); the audit log stays, as
    /// the record.
    /// A personal workspace is deleted only with its user.
    #[tracing::instrument(name = "store.delete_workspace", skip_all)]
    pub async fn delete_workspace(
        &self,
        id: &str,
        meta: &super::audit::Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::workspace(id), meta).await?;
        let workspace = lock_workspace(&mut work, id).await?;
        if workspace.kind == "personal" {
            return Err(StoreError::conflict(
                ProblemCode::PersonalWorkspace.as_str(),
                "a personal workspace cannot be deleted; it belongs to its user",
            ));
        }
        let subscription: Option<String> = sqlx::query_scalar(
            "SELECT subscription_status FROM billing_accounts WHERE workspace_id = $1 \
             AND subscription_status IN ('active', 'trialing', 'past_due', 'unpaid', 'paused')",
        )
        .bind(id)
        .fetch_optional(&mut *work.tx)
        .await?;
        if let Some(status) = subscription {
            return Err(StoreError::conflict(
                ProblemCode::ActiveSubscription.as_str(),
                format!(
                    "the workspace still has a Stripe subscription (`{status}`): \
                     cancel it in the billing portal first"
                ),
            ));
        }
        let members: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE workspace_id = $1")
                .bind(id)
                .fetch_all(&mut *work.tx)
                .await?;
        let keys = sqlx::query(
            "SELECT id, role_ceiling, secret_hash, expires_at, projects FROM api_keys \
             WHERE workspace_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *work.tx)
        .await?;
        let projects: Vec<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE workspace_id = $1")
                .bind(id)
                .fetch_all(&mut *work.tx)
                .await?;
        for user_id in &members {
            work.push(
                EntryKey::membership(id, user_id),
                Entry::Membership {
                    role: None,
                    projects: None,
                },
            )
            .await?;
        }
        for key in &keys {
            let projects: Option<String> = key.try_get("projects")?;
            work.push(
                EntryKey::ApiKey(key.try_get("id")?),
                Entry::ApiKey {
                    workspace_id: id.to_string(),
                    role_ceiling: parse(key.try_get("role_ceiling")?)?,
                    secret_hash: key.try_get("secret_hash")?,
                    expires_at: key.try_get("expires_at")?,
                    revoked: true,
                    projects: projects.and_then(|p| serde_json::from_str(&p).ok()),
                },
            )
            .await?;
        }
        // Its projects go with it: a gateway that knew one knows it no more.
        for project in projects {
            work.push(EntryKey::Project(project), Entry::Missing)
                .await?;
        }
        work.push(EntryKey::Workspace(id.to_string()), Entry::Missing)
            .await?;
        work.audit(
            AuditRecord::success(id, "workspace.deleted", id).with_detail(json!({
                "name": workspace.name,
                "members": members.len(),
                "api_keys": keys.len(),
            })),
        )
        .await?;
        sqlx::query("DELETE FROM webhook_events WHERE workspace_id = $1")
            .bind(id)
            .execute(&mut *work.tx)
            .await?;
        sqlx::query("DELETE FROM workspaces WHERE id = $1")
            .bind(id)
            .execute(&mut *work.tx)
            .await?;
        sqlx::query("UPDATE users SET last_workspace_id = NULL WHERE last_workspace_id = $1")
            .bind(id)
            .execute(&mut *work.tx)
            .await?;
        self.finish(work).await
    }

    /// Suspend or reactivate a workspace (an operator's decision): one
    /// state change, pushed to every gateway, audited, and announced to the
    /// workspace's webhooks.
    #[tracing::instrument(name = "store.set_workspace_status", skip_all)]
    pub async fn set_workspace_status(
        &self,
        workspace_id: &str,
        status: WorkspaceStatus,
        meta: &super::audit::Meta,
    ) -> Result<Workspace, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let workspace = change_status(&mut work, workspace_id, status, StatusBy::Operator).await?;
        self.finish(work).await?;
        Ok(workspace)
    }
}

/// Put a workspace on `plan` within `work`, and push its entry: gateways
/// see the plan in every decision, whatever else the unit changes.
#[tracing::instrument(name = "store.set_plan", skip_all)]
pub(crate) async fn set_plan(
    work: &mut Work,
    workspace_id: &str,
    plan: &str,
) -> Result<Workspace, StoreError> {
    let before = lock_workspace(work, workspace_id).await?;
    if before.plan == plan {
        return Ok(before);
    }
    sqlx::query("UPDATE workspaces SET plan = $1 WHERE id = $2")
        .bind(plan)
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await?;
    let workspace = Workspace {
        plan: plan.to_string(),
        ..before
    };
    work.push(
        EntryKey::Workspace(workspace_id.to_string()),
        workspace_entry(&workspace),
    )
    .await?;
    Ok(workspace)
}

/// Who changes a workspace's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusBy {
    Operator,
    Billing,
}

impl StatusBy {
    fn as_str(self) -> &'static str {
        match self {
            StatusBy::Operator => "operator",
            StatusBy::Billing => "billing",
        }
    }
}

/// Move a workspace to `status` within `work`: pushed to every gateway and,
/// when it changes, audited and announced. An operator's word is final;
/// billing lifts only a suspension of its own and never overrides one.
#[tracing::instrument(name = "store.change_status", skip_all)]
pub(crate) async fn change_status(
    work: &mut Work,
    workspace_id: &str,
    status: WorkspaceStatus,
    by: StatusBy,
) -> Result<Workspace, StoreError> {
    let before = lock_workspace(work, workspace_id).await?;
    let suspended_by: Option<String> =
        sqlx::query_scalar("SELECT suspended_by FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_one(&mut *work.tx)
            .await?;
    if by == StatusBy::Billing {
        let keep = match status {
            WorkspaceStatus::Suspended => before.status == WorkspaceStatus::Suspended,
            WorkspaceStatus::Active => suspended_by.as_deref() != Some("billing"),
        };
        if keep {
            return Ok(before);
        }
    }
    let now_by = (status == WorkspaceStatus::Suspended).then_some(by.as_str());
    sqlx::query("UPDATE workspaces SET status = $1, suspended_by = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now_by)
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await?;
    let workspace = Workspace {
        status,
        ..before.clone()
    };
    if before.status != status {
        let action = match status {
            WorkspaceStatus::Suspended => "workspace.suspended",
            WorkspaceStatus::Active => "workspace.reactivated",
        };
        work.audit(
            AuditRecord::success(workspace_id, action, workspace_id)
                .with_detail(json!({ "by": by.as_str() })),
        )
        .await?;
        work.emit(workspace_id, action, json!({ "workspace": &workspace }))
            .await?;
    }
    work.push(
        EntryKey::Workspace(workspace_id.to_string()),
        workspace_entry(&workspace),
    )
    .await?;
    Ok(workspace)
}
