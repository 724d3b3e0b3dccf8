//! A workspace's own OpenID Connect connection (at most one): read, saved
//! and removed, each change audited and sent to the workspace's webhooks.
//! The client secret arrives sealed and is never returned by the API.

use super::audit::{AuditRecord, Meta};
use super::work::{Scope, Work};
use super::workspaces::lock_workspace;
use super::{Store, StoreError, new_id, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::Role;

/// A stored connection.
#[derive(Clone)]
pub struct Connection {
    pub id: String,
    pub workspace_id: String,
    pub issuer: String,
    pub client_id: String,
    /// `v1:…` (see [`crate::sso::seal`]), sealed for `workspace_id`.
    pub client_secret_sealed: String,
    /// Domains people signing in through it may have, besides the
    /// workspace's verified ones.
    pub allowed_domains: Vec<String>,
    /// The role of a person who joins by signing in through it.
    pub default_role: Role,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("allowed_domains", &self.allowed_domains)
            .field("default_role", &self.default_role)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A connection as an owner sets it.
#[derive(Clone)]
pub struct ConnectionChange {
    pub issuer: String,
    pub client_id: String,
    /// A newly sealed secret; `None` keeps the stored one (updates only).
    pub client_secret_sealed: Option<String>,
    pub allowed_domains: Vec<String>,
    pub default_role: Role,
    pub enabled: bool,
}

/// What saving did.
#[derive(Debug, Clone)]
pub struct Saved {
    pub connection: Connection,
    pub created: bool,
}

const COLUMNS: &str = "id, workspace_id, issuer, client_id, client_secret_sealed, \
     allowed_domains, default_role, CAST(CASE WHEN enabled THEN 1 ELSE 0 END AS BIGINT) AS enabled, \
     created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Connection, StoreError> {
    let role: String = row.try_get("default_role")?;
    let domains: String = row.try_get("allowed_domains")?;
    Ok(Connection {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        issuer: row.try_get("issuer")?,
        client_id: row.try_get("client_id")?,
        client_secret_sealed: row.try_get("client_secret_sealed")?,
        allowed_domains: domains
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        default_role: role.parse().map_err(|_| {
            StoreError::Database(sqlx::Error::Decode(
                format!("unknown role `{role}` in sso_connections").into(),
            ))
        })?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The workspace's connection, read inside `work`.
pub(crate) async fn connection_in(
    work: &mut Work,
    workspace_id: &str,
) -> Result<Option<Connection>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sso_connections WHERE workspace_id = $1"
    )))
    .bind(workspace_id)
    .fetch_optional(&mut *work.tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The workspace requires SSO (its sign-in methods are `sso` alone).
async fn requires_sso(work: &mut Work, workspace_id: &str) -> Result<bool, StoreError> {
    let methods: Option<String> =
        sqlx::query_scalar("SELECT sign_in_methods FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(&mut *work.tx)
            .await?;
    Ok(methods.is_some_and(|m| m.trim() == "sso"))
}

fn in_use() -> StoreError {
    StoreError::conflict(
        ProblemCode::SsoConnectionInUse.as_str(),
        "the workspace's sign-in policy requires SSO through this connection: \
         allow another sign-in method first",
    )
}

/// The facts of a connection an audit row or an event may carry.
fn facts(c: &Connection) -> serde_json::Value {
    json!({
        "connection_id": c.id,
        "issuer": c.issuer,
        "client_id": c.client_id,
        "allowed_domains": c.allowed_domains,
        "default_role": c.default_role,
        "enabled": c.enabled,
    })
}

impl Store {
    /// The workspace's connection, if it has one.
    #[tracing::instrument(name = "store.sso_connection", skip_all)]
    pub async fn sso_connection(
        &self,
        workspace_id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sso_connections WHERE workspace_id = $1"
        )))
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A connection by its id, whichever workspace (sign-in callbacks and
    /// back-channel logouts name it).
    #[tracing::instrument(name = "store.sso_connection_by_id", skip_all)]
    pub async fn sso_connection_by_id(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sso_connections WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Create or replace the workspace's connection, audited and emitted
    /// (`sso.connection.created` or `sso.connection.updated`).
    #[tracing::instrument(name = "store.put_sso_connection", skip_all)]
    pub async fn put_sso_connection(
        &self,
        workspace_id: &str,
        change: ConnectionChange,
        meta: &Meta,
    ) -> Result<Saved, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let existing = connection_in(&mut work, workspace_id).await?;
        let at = now();
        let domains = change.allowed_domains.join(",");
        let secret_changed = change.client_secret_sealed.is_some();
        let saved = match existing {
            Some(old) => {
                if !change.enabled && old.enabled && requires_sso(&mut work, workspace_id).await? {
                    return Err(in_use());
                }
                let sealed = change
                    .client_secret_sealed
                    .clone()
                    .unwrap_or_else(|| old.client_secret_sealed.clone());
                sqlx::query(
                    "UPDATE sso_connections SET issuer = $1, client_id = $2, \
                     client_secret_sealed = $3, allowed_domains = $4, default_role = $5, \
                     enabled = $6, updated_at = $7 WHERE id = $8 AND workspace_id = $9",
                )
                .bind(&change.issuer)
                .bind(&change.client_id)
                .bind(&sealed)
                .bind(&domains)
                .bind(change.default_role.as_str())
                .bind(change.enabled)
                .bind(at)
                .bind(&old.id)
                .bind(workspace_id)
                .execute(&mut *work.tx)
                .await?;
                Saved {
                    connection: Connection {
                        issuer: change.issuer,
                        client_id: change.client_id,
                        client_secret_sealed: sealed,
                        allowed_domains: change.allowed_domains,
                        default_role: change.default_role,
                        enabled: change.enabled,
                        updated_at: at,
                        ..old
                    },
                    created: false,
                }
            }
            None => {
                let Some(sealed) = change.client_secret_sealed else {
                    return Err(StoreError::Invalid {
                        code: ProblemCode::MissingField.as_str(),
                        field: "client_secret",
                        message: "`client_secret` is required for a new connection".to_string(),
                    });
                };
                let id = new_id();
                // The workspace row is locked: no concurrent create.
                sqlx::query(
                    "INSERT INTO sso_connections (id, workspace_id, issuer, client_id, \
                     client_secret_sealed, allowed_domains, default_role, enabled, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                )
                .bind(&id)
                .bind(workspace_id)
                .bind(&change.issuer)
                .bind(&change.client_id)
                .bind(&sealed)
                .bind(&domains)
                .bind(change.default_role.as_str())
                .bind(change.enabled)
                .bind(at)
                .execute(&mut *work.tx)
                .await?;
                Saved {
                    connection: Connection {
                        id,
                        workspace_id: workspace_id.to_string(),
                        issuer: change.issuer,
                        client_id: change.client_id,
                        client_secret_sealed: sealed,
                        allowed_domains: change.allowed_domains,
                        default_role: change.default_role,
                        enabled: change.enabled,
                        created_at: at,
                        updated_at: at,
                    },
                    created: true,
                }
            }
        };
        let action = if saved.created {
            "sso.connection.created"
        } else {
            "sso.connection.updated"
        };
        let mut detail = facts(&saved.connection);
        detail["client_secret_changed"] = json!(secret_changed);
        work.audit(
            AuditRecord::success(workspace_id, action, &saved.connection.id)
                .with_detail(detail.clone()),
        )
        .await?;
        work.emit(workspace_id, action, detail).await?;
        self.finish(work).await?;
        Ok(saved)
    }

    /// Remove the workspace's connection (`sso.connection.deleted`). Its
    /// people keep their accounts and memberships; their identities stay
    /// linked, to sign in again should it come back.
    #[tracing::instrument(name = "store.delete_sso_connection", skip_all)]
    pub async fn delete_sso_connection(
        &self,
        workspace_id: &str,
        meta: &Meta,
    ) -> Result<Connection, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let Some(old) = connection_in(&mut work, workspace_id).await? else {
            return Err(StoreError::NotFound { what: "connection" });
        };
        if requires_sso(&mut work, workspace_id).await? {
            return Err(in_use());
        }
        sqlx::query("DELETE FROM sso_connections WHERE id = $1 AND workspace_id = $2")
            .bind(&old.id)
            .bind(workspace_id)
            .execute(&mut *work.tx)
            .await?;
        let detail = facts(&old);
        work.audit(
            AuditRecord::success(workspace_id, "sso.connection.deleted", &old.id)
                .with_detail(detail.clone()),
        )
        .await?;
        work.emit(workspace_id, "sso.connection.deleted", detail)
            .await?;
        self.finish(work).await?;
        Ok(old)
    }
}
