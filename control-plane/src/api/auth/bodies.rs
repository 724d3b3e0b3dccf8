//! What the identity routes answer in JSON: who is signed in, in which
//! workspace, with which session.

use crate::store::workspaces::MyWorkspace;
use serde::Serialize;
use wrnexus_policies::sign_in::session_method;
use wrnexus_policies::{Role, SessionClaims, SignInMethod};

/// A person, by id and email.
#[derive(Debug, Serialize)]
pub struct UserRef<'a> {
    pub id: &'a str,
    pub email: &'a str,
}

/// Sign-up and sign-in: the user, the workspace landed in and the session.
#[derive(Debug, Serialize)]
pub struct SignedIn<'a> {
    pub user: UserRef<'a>,
    pub workspace: LandedIn<'a>,
    pub session: SessionRef<'a>,
}

/// The workspace a session opened in; `name` and `role` are `null` when
/// it is gone.
#[derive(Debug, Serialize)]
pub struct LandedIn<'a> {
    pub id: &'a str,
    pub name: Option<String>,
    pub role: Option<Role>,
}

/// A session, by id, and when it expires (Unix seconds).
#[derive(Debug, Serialize)]
pub struct SessionRef<'a> {
    pub id: &'a str,
    pub expires_at: i64,
}

/// `GET /.wrnexus/whoami`: the user, the current workspace (`null` when the
/// membership is gone) and every membership.
#[derive(Debug, Serialize)]
pub struct WhoAmI<'a> {
    pub user: UserRef<'a>,
    pub workspace: Option<Membership<'a>>,
    pub workspaces: Vec<Membership<'a>>,
}

/// A membership as whoami shows it: the workspace, the role, and whether
/// the workspace requires SSO and this session meets it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Membership<'a> {
    #[serde(flatten)]
    pub workspace: &'a MyWorkspace,
    /// Only the workspace's own IdP signs its people in.
    pub sso_required: bool,
    /// This session was signed in through that IdP (a session entering a
    /// workspace that requires SSO without it is refused; the switcher
    /// links through `/.wrnexus/sso/start?workspace_id=..` instead).
    pub sso_satisfied: bool,
}

impl<'a> Membership<'a> {
    /// `workspace` as seen by the session of `claims`.
    pub fn of(workspace: &'a MyWorkspace, claims: &SessionClaims) -> Self {
        let id = workspace.workspace.id.as_str();
        let through_idp =
            session_method(claims) == SignInMethod::Sso && claims.sso_wid.as_deref() == Some(id);
        Membership {
            workspace,
            sso_required: workspace.workspace.sign_in_methods.requires_sso(),
            sso_satisfied: through_idp,
        }
    }
}

/// `POST /.wrnexus/switch` in JSON: the workspace switched to.
#[derive(Debug, Serialize)]
pub struct Switched<'a> {
    pub workspace: SwitchedTo<'a>,
}

/// A workspace and the caller's role in it.
#[derive(Debug, Serialize)]
pub struct SwitchedTo<'a> {
    pub id: &'a str,
    pub role: Role,
}
