//! A unit of work: one transaction, scoped to what it may see, that carries
//! the change, its audit row, its outbox events and the decision data to push
//! once it commits. Nothing is written half: all of it commits or none.

use super::audit_row::{self, AuditRecord};
use super::meta::Meta;
use super::outbox;
use super::scope::set_scope;
use super::{Backend, Changes, Store, StoreError, next_version};
use sqlx::{Any, Transaction};
use wrnexus_policies::{Entry, EntryKey, VersionedEntry};

/// The scope type, also found here where it has always been.
pub use super::scope::Scope;

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
    #[tracing::instrument(name = "store.read", skip_all)]
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
        audit_row::append(&mut self.tx, &self.meta, &record).await
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
