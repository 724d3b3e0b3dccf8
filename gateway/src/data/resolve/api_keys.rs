//! Resolving an API key: its pushed entry and its workspace's, as a session's
//! data is resolved (local, then Redis, then the control plane).

use super::{Ask, FailCause, ResolveError, Resolver, Stamp, Unavailable};
use std::time::Instant;
use wrnexus_policies::{Entry, EntryKeyRef, WorkspaceStatus};

impl Resolver {
    /// [`Resolver::resolve_key`] at `now`, with a stamp when both entries
    /// were local and fresh (see [`Resolver::holds`]).
    pub async fn resolve_key_at(
        &self,
        key_id: &str,
        token: &str,
        now: Instant,
    ) -> Result<(Entry, Option<(WorkspaceStatus, String)>, Option<Stamp>), ResolveError> {
        let epoch = self.cache.epoch();
        let key = EntryKeyRef::ApiKey(key_id).cache_key();
        let (local, key_fetched) = self.cache.get_fresh(&[key.as_str()], self.freshness(), now);
        if let Some(Some(found)) = local.first()
            && let Entry::ApiKey { workspace_id, .. } = &found.entry
        {
            let workspace = EntryKeyRef::Workspace(workspace_id).cache_key();
            let (local, workspace_fetched) =
                self.cache
                    .get_fresh(&[workspace.as_str()], self.freshness(), now);
            if let Some(Some(Entry::Workspace { status, plan, .. })) =
                local.first().map(|w| w.as_deref().map(|w| &w.entry))
            {
                // Two local lookups, counted as `resolve_key` counts them.
                self.hits.inc_by(2);
                let oldest = key_fetched.zip(workspace_fetched).map(|(k, w)| k.min(w));
                let stamp = oldest.map(|oldest| Stamp { epoch, oldest });
                return Ok((found.entry.clone(), Some((*status, plan.clone())), stamp));
            }
        }
        let (entry, workspace) = self.resolve_key(key_id, token).await?;
        Ok((entry, workspace, None))
    }

    /// Resolve an API key's entry and its workspace's. The caller checks
    /// the secret against the entry's hash.
    pub async fn resolve_key(
        &self,
        key_id: &str,
        token: &str,
    ) -> Result<(Entry, Option<(WorkspaceStatus, String)>), ResolveError> {
        let key = EntryKeyRef::ApiKey(key_id).cache_key();
        let found = self
            .lookup(
                &[key.as_str()],
                Ask::Key {
                    token,
                    project_id: None,
                },
            )
            .await?;
        let entry = found
            .into_iter()
            .next()
            .flatten()
            .map(|e| e.entry.clone())
            .ok_or_else(|| {
                ResolveError::Unavailable(Unavailable::new(
                    FailCause::IncompleteData,
                    "incomplete decision data",
                ))
            })?;
        let Entry::ApiKey { workspace_id, .. } = &entry else {
            return Ok((entry, None));
        };
        let workspace = EntryKeyRef::Workspace(workspace_id).cache_key();
        let found = self
            .lookup(
                &[workspace.as_str()],
                Ask::Key {
                    token,
                    project_id: None,
                },
            )
            .await?;
        let status = match found.first().and_then(Option::as_deref).map(|e| &e.entry) {
            Some(Entry::Workspace { status, plan, .. }) => Some((*status, plan.clone())),
            _ => None,
        };
        Ok((entry, status))
    }
}
