//! What the identity routes answer in JSON: who is signed in, in which
//! workspace, with which session.

use crate::store::workspaces::MyWorkspace;
use serde::Serialize;
use wrnexus_policies::Role;

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
    pub workspace: Option<&'a MyWorkspace>,
    pub workspaces: &'a [MyWorkspace],
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
