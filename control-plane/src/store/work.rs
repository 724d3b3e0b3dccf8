//! A unit of work: one transaction, scoped to what it may see, that carries
//! the change, its audit row, its outbox events and the decision data to push
//! once it commits. Nothing is written half: all of it commits or none.

use super::audit::{self, AuditRecord, Meta};
use super::outbox;
use super::{Backend, Changes, Store, StoreError, next_version};
use sqlx::{Any, Transaction};
use wrnexus_policies::{Entry, EntryKey, VersionedEntry};

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

/// An open unit of work.
pub struct Work {
    pub(crate) tx: Transaction<'static, Any>,
    backend: Backend,
    changes: Changes,
    meta: Meta,
    version: Option<i64>,
}

impl Store {
    /// A read-only transaction in `scope` (rolled back when dropped).
    pub(crate) async fn read(
        &self,
        scope: Scope<'_>,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = self.pool().begin().await?;
        set_scope(self.backend(), &mut tx, scope).await?;
        Ok(tx)
    }

    /// Start a unit of work in `scope` on behalf of `meta`'s actor.
    pub(crate) async fn work(&self, scope: Scope<'_>, meta: &Meta) -> Result<Work, StoreError> {
        let tx = self.read(scope).await?;
        Ok(Work {
            tx,
            backend: self.backend(),
            changes: Vec::new(),
            meta: meta.clone(),
            version: None,
        })
    }

    /// Commit the work, then push its decision data (Redis + invalidations).
    pub(crate) async fn finish(&self, work: Work) -> Result<(), StoreError> {
        self.commit(work.tx, work.changes).await
    }
}

impl Work {
    /// The decision-data version of this unit (taken once, on first use).
    pub(crate) async fn version(&mut self) -> Result<i64, StoreError> {
        if let Some(v) = self.version {
            return Ok(v);
        }
        let v = next_version(&mut self.tx).await?;
        self.version = Some(v);
        Ok(v)
    }

    /// Move the transaction to another scope.
    pub(crate) async fn scope(&mut self, scope: Scope<'_>) -> Result<(), StoreError> {
        set_scope(self.backend, &mut self.tx, scope).await
    }

    /// Push `entry` for `key` at this unit's version once committed. A
    /// later push of the same key replaces the earlier one: all carry one
    /// version, and Redis keeps only the first write of a version, so what
    /// is pushed must be the key's final state in this unit.
    pub(crate) async fn push(&mut self, key: EntryKey, entry: Entry) -> Result<(), StoreError> {
        let version = self.version().await?;
        self.changes.retain(|(pushed, _)| *pushed != key);
        self.changes.push((key, VersionedEntry { version, entry }));
        Ok(())
    }

    /// Append an audit row in this transaction.
    pub(crate) async fn audit(&mut self, record: AuditRecord<'_>) -> Result<(), StoreError> {
        audit::append(&mut self.tx, &self.meta, &record).await
    }

    /// Put an outbound webhook event in the outbox, in this transaction.
    pub(crate) async fn emit(
        &mut self,
        workspace_id: &str,
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<String, StoreError> {
        outbox::enqueue(&mut self.tx, workspace_id, event_type, data).await
    }
}
