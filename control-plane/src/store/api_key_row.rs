//! An API key as stored and listed (never its secret), read from its row,
//! and its decision entry as gateways cache it.

use super::membership::projects_of;
use super::workspaces::parse;
use sqlx::Row;
use sqlx::any::AnyRow;
use wrnexus_policies::api_key::KEY_PREFIX;
use wrnexus_policies::{Entry, Role};

/// A key as listed: never its secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// `wrn_<key id>`: what a person sees to recognise the key.
    pub prefix: String,
    pub role_ceiling: Role,
    /// Who created the key: a user id, or the id of the key it was created with.
    pub created_by: Option<String>,
    /// The person behind the key: the user who created it, or the person
    /// behind the key it was created with. Removing them from the workspace,
    /// signing them out everywhere or disabling them revokes the key. `null`
    /// for a key with no person behind it (made by an operator, or before
    /// people were recorded and not traceable to one).
    pub created_by_user: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The projects of its workspace the key is limited to; absent: all of
    /// them. A limited key works only in them, and only reads the workspace
    /// itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
}

impl ApiKey {
    /// The key's decision entry, with its stored secret hash, revoked or not.
    pub(crate) fn entry(&self, secret_hash: String, revoked: bool) -> Entry {
        Entry::ApiKey {
            workspace_id: self.workspace_id.clone(),
            role_ceiling: self.role_ceiling,
            secret_hash,
            expires_at: self.expires_at,
            revoked,
            projects: self.projects.clone(),
        }
    }
}

pub(crate) fn key_from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let id: String = row.try_get("id")?;
    Ok(ApiKey {
        prefix: format!("{KEY_PREFIX}{id}"),
        id,
        workspace_id: row.try_get("workspace_id")?,
        name: row.try_get("name")?,
        role_ceiling: parse(row.try_get("role_ceiling")?)?,
        created_by: row.try_get("created_by")?,
        created_by_user: row.try_get("created_by_user")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        projects: projects_of(row.try_get("projects")?),
    })
}

pub(crate) const COLUMNS: &str = "id, workspace_id, name, role_ceiling, created_by, \
                                  created_by_user, created_at, expires_at, last_used_at, \
                                  revoked_at, projects, secret_hash";
