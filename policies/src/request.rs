//! A request description: who asks, for what, in which workspace, as the
//! gateway or the control plane knows it. The engine decides it; the memo
//! keys decisions by it.

use crate::model::{CredentialKind, Role, WorkspaceStatus};
use crate::sign_in::SignIn;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    User(&'a str),
    /// A key and the one workspace it belongs to.
    ApiKey {
        id: &'a str,
        workspace_id: &'a str,
    },
}

/// A request description, as the gateway or the control plane knows it.
#[derive(Debug, Clone)]
pub struct DecisionRequest<'a> {
    pub principal: Principal<'a>,
    pub action: &'a str,
    pub workspace_id: &'a str,
    /// When the resource is a project inside the workspace.
    pub project_id: Option<&'a str>,
    /// Whether that project is archived (read-only): the `archived`
    /// attribute of the `Project` entity Cedar decides on, and part of the
    /// memo's key. Meaningless without a project.
    pub project_archived: bool,
    /// The projects a membership (or an API key) is limited to; `None`: all
    /// of them.
    pub granted_projects: Option<&'a [String]>,
    /// `None`: not a member.
    pub role: Option<Role>,
    pub workspace_status: WorkspaceStatus,
    /// Whether the person proved they own their email (`true` for API
    /// keys, which no email stands behind).
    pub email_verified: bool,
    pub plan: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// How the credential was signed in, and the workspace's sign-in
    /// policy ([`SignIn::API_KEY`] for a key).
    pub sign_in: SignIn<'a>,
}

impl DecisionRequest<'_> {
    pub fn credential(&self) -> CredentialKind {
        match self.principal {
            Principal::User(_) => CredentialKind::Session,
            Principal::ApiKey { .. } => CredentialKind::ApiKey,
        }
    }
}
