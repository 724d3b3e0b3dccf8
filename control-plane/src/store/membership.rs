//! One user's membership of one workspace: the role and project limits,
//! as read inside a unit of work.

use super::StoreError;
use super::work::Work;
use super::workspaces::parse;
use sqlx::Row;
use wrnexus_policies::Role;

/// A role and its project limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub role: Role,
    pub projects: Option<Vec<String>>,
}

pub(crate) fn projects_of(value: Option<String>) -> Option<Vec<String>> {
    value.and_then(|v| serde_json::from_str(&v).ok())
}

#[tracing::instrument(name = "store.membership_in", skip_all)]
pub(crate) async fn membership_in(
    work: &mut Work,
    workspace_id: &str,
    user_id: &str,
) -> Result<Option<Membership>, StoreError> {
    let row = sqlx::query(
        "SELECT role, projects FROM memberships WHERE workspace_id = $1 AND user_id = $2",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(&mut *work.tx)
    .await?;
    row.map(|r| -> Result<Membership, StoreError> {
        Ok(Membership {
            role: parse(r.try_get("role")?)?,
            projects: projects_of(r.try_get("projects")?),
        })
    })
    .transpose()
}
