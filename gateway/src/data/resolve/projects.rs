//! Resolving the project a request names: its pushed entry (local, then
//! Redis, then the control plane, asked with the request's own credential),
//! and whether it is a project of the request's workspace.

use super::{Ask, FailCause, ResolveError, Resolver, Unavailable};
use wrnexus_policies::{Entry, EntryKeyRef};

/// The credential the control plane is asked with on a miss.
#[derive(Debug, Clone, Copy)]
pub enum ProjectAsker<'a> {
    Session {
        workspace_id: &'a str,
        token: &'a str,
    },
    Key {
        token: &'a str,
    },
}

impl Resolver {
    /// Whether `project_id` is a project of `workspace_id`: `Some(archived)`;
    /// `None` when there is no such project or it is another workspace's.
    pub async fn project(
        &self,
        project_id: &str,
        workspace_id: &str,
        asker: ProjectAsker<'_>,
    ) -> Result<Option<bool>, ResolveError> {
        let key = EntryKeyRef::Project(project_id).cache_key();
        let ask = match asker {
            ProjectAsker::Session {
                workspace_id,
                token,
            } => Ask::Session {
                workspace_id,
                token,
                project_id: Some(project_id),
            },
            ProjectAsker::Key { token } => Ask::Key {
                token,
                project_id: Some(project_id),
            },
        };
        let found = self.lookup(&[key.as_str()], ask).await?;
        match found.first().and_then(Option::as_deref).map(|e| &e.entry) {
            Some(Entry::Project {
                workspace_id: home,
                archived,
            }) if home == workspace_id => Ok(Some(*archived)),
            Some(_) => Ok(None),
            // The control plane left it out: nothing to decide on, fail closed.
            None => Err(ResolveError::Unavailable(Unavailable::new(
                FailCause::IncompleteData,
                "no decision data for the project",
            ))),
        }
    }
}
