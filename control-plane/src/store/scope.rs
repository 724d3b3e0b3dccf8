//! What a transaction may see: the workspace, the user and whether it is a
//! cross-workspace job, set as row-level security settings on Postgres.

use super::{Backend, StoreError};
use sqlx::{Any, Transaction};

/// What a transaction may see. On Postgres this sets the row-level security
/// settings for the transaction; on SQLite the queries' own `WHERE` clauses
/// are the whole story, so every query names its workspace anyway.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// The workspace the transaction works in.
    pub workspace: Option<&'a str>,
    /// The user whose own memberships (in any workspace) it may read.
    pub user: Option<&'a str>,
    /// Cross-workspace jobs: the outbox worker, lookups by secret token.
    pub system: bool,
}

impl<'a> Scope<'a> {
    pub fn workspace(id: &'a str) -> Self {
        Scope {
            workspace: Some(id),
            ..Scope::default()
        }
    }

    pub fn user(id: &'a str) -> Self {
        Scope {
            user: Some(id),
            ..Scope::default()
        }
    }

    pub fn member(workspace: &'a str, user: &'a str) -> Self {
        Scope {
            workspace: Some(workspace),
            user: Some(user),
            system: false,
        }
    }

    pub fn system() -> Self {
        Scope {
            system: true,
            ..Scope::default()
        }
    }
}

/// Set the scope of an open transaction (again, to narrow or move it).
pub(crate) async fn set_scope(
    backend: Backend,
    tx: &mut Transaction<'static, Any>,
    scope: Scope<'_>,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query(
            "SELECT set_config('wrnexus.workspace_id', $1, true), \
             set_config('wrnexus.user_id', $2, true), set_config('wrnexus.system', $3, true)",
        )
        .bind(scope.workspace.unwrap_or(""))
        .bind(scope.user.unwrap_or(""))
        .bind(if scope.system { "on" } else { "" })
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
