//! Projects: finer scopes inside one workspace. Names are unique per
//! workspace; archiving keeps a project (and its grants) but marks it done:
//! read-only, as every gateway hears at once (its decision entry is pushed
//! with each change of its state).

use super::audit::{AuditRecord, Meta};
use super::work::{Scope, Work};
use super::workspaces::lock_workspace;
use super::{Store, StoreError, is_unique_violation, new_id, now};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Entry, EntryKey};

/// A project of a workspace.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Project {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub archived: bool,
    pub created_at: i64,
}

/// What a project update changes.
#[derive(Debug, Clone, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub archived: Option<bool>,
}

impl Project {
    /// Its decision entry: the workspace it is in, and whether archived.
    pub(crate) fn entry(&self) -> Entry {
        Entry::Project {
            workspace_id: self.workspace_id.clone(),
            archived: self.archived,
        }
    }
}

/// Check that every id of `projects` names a project of `workspace_id`
/// (else `unknown_project`, about `field`): the ids, sorted, each once.
#[tracing::instrument(name = "store.projects_of_workspace", skip_all)]
pub(crate) async fn projects_of_workspace(
    work: &mut Work,
    workspace_id: &str,
    mut projects: Vec<String>,
    field: &'static str,
) -> Result<Vec<String>, StoreError> {
    projects.sort();
    projects.dedup();
    for project in &projects {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE workspace_id = $1 AND id = $2")
                .bind(workspace_id)
                .bind(project)
                .fetch_optional(&mut *work.tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::Invalid {
                code: ProblemCode::UnknownProject.as_str(),
                field,
                message: format!("`{field}` names `{project}`, not a project of this workspace"),
            });
        }
    }
    Ok(projects)
}

fn project_from_row(row: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        name: row.try_get("name")?,
        archived: row.try_get::<Option<i64>, _>("archived_at")?.is_some(),
        created_at: row.try_get("created_at")?,
    })
}

fn name_taken(name: &str) -> StoreError {
    StoreError::conflict(
        ProblemCode::ProjectNameTaken.as_str(),
        format!("a project named `{name}` already exists in this workspace"),
    )
}

impl Store {
    #[tracing::instrument(name = "store.projects", skip_all)]
    pub async fn projects(&self, workspace_id: &str) -> Result<Vec<Project>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT id, workspace_id, name, archived_at, created_at FROM projects \
             WHERE workspace_id = $1 ORDER BY name, id",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .iter()
            .map(project_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// A project of `workspace_id`; `None` if it has no such project.
    #[tracing::instrument(name = "store.project", skip_all)]
    pub async fn project(
        &self,
        workspace_id: &str,
        project_id: &str,
    ) -> Result<Option<Project>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let row = sqlx::query(
            "SELECT id, workspace_id, name, archived_at, created_at FROM projects \
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    #[tracing::instrument(name = "store.create_project", skip_all)]
    pub async fn create_project(
        &self,
        workspace_id: &str,
        name: &str,
        meta: &Meta,
    ) -> Result<Project, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let version = work.version().await?;
        let project = Project {
            id: new_id(),
            workspace_id: workspace_id.to_string(),
            name: name.to_string(),
            archived: false,
            created_at: now(),
        };
        let inserted = sqlx::query(
            "INSERT INTO projects (id, workspace_id, name, created_at, version) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&project.id)
        .bind(workspace_id)
        .bind(name)
        .bind(project.created_at)
        .bind(version)
        .execute(&mut *work.tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(name_taken(name)),
            other => other?,
        };
        work.audit(
            AuditRecord::success(workspace_id, "project.created", &project.id)
                .with_detail(json!({ "name": name })),
        )
        .await?;
        work.emit(
            workspace_id,
            "project.created",
            json!({ "project": &project }),
        )
        .await?;
        work.push(EntryKey::Project(project.id.clone()), project.entry())
            .await?;
        self.finish(work).await?;
        Ok(project)
    }

    /// Rename, archive or unarchive a project of `workspace_id`. Archiving
    /// or unarchiving takes a new decision version and is pushed to every
    /// gateway; a rename alone decides nothing.
    #[tracing::instrument(name = "store.update_project", skip_all)]
    pub async fn update_project(
        &self,
        workspace_id: &str,
        project_id: &str,
        change: &ProjectChange,
        meta: &Meta,
    ) -> Result<Project, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let version = match change.archived {
            Some(_) => Some(work.version().await?),
            None => None,
        };
        let updated = sqlx::query(
            "UPDATE projects SET name = COALESCE($1, name), \
             archived_at = CASE WHEN $2 IS NULL THEN archived_at WHEN $2 = 1 \
             THEN COALESCE(archived_at, $3) ELSE NULL END, \
             version = COALESCE($4, version) \
             WHERE workspace_id = $5 AND id = $6 \
             RETURNING id, workspace_id, name, archived_at, created_at",
        )
        .bind(change.name.as_deref())
        .bind(change.archived.map(i64::from))
        .bind(now())
        .bind(version)
        .bind(workspace_id)
        .bind(project_id)
        .fetch_optional(&mut *work.tx)
        .await;
        let row = match updated {
            Err(e) if is_unique_violation(&e) => {
                return Err(name_taken(change.name.as_deref().unwrap_or_default()));
            }
            other => other?,
        };
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "project" });
        };
        let project = project_from_row(&row)?;
        work.audit(
            AuditRecord::success(workspace_id, "project.updated", project_id).with_detail(json!({
                "name": change.name,
                "archived": change.archived,
            })),
        )
        .await?;
        work.emit(
            workspace_id,
            "project.updated",
            json!({ "project": &project }),
        )
        .await?;
        if version.is_some() {
            work.push(EntryKey::Project(project.id.clone()), project.entry())
                .await?;
        }
        self.finish(work).await?;
        Ok(project)
    }
}
