//! The project a request is decided on: named by its route's path pattern
//! or header, resolved like the rest of its decision data, and checked to
//! be a project of the request's workspace (otherwise `404`, as for a
//! workspace). Non-members are told nothing about projects: they are
//! decided on the workspace, and refused there.

use crate::authn::session::AuthnError;
use crate::data::resolve::{ProjectAsker, ResolveError, Resolved};
use crate::proxy::ctx::Ctx;
use crate::proxy::gateway::Gateway;
use crate::refusal::Refusal;
use crate::request::project::ProjectNameError;
use crate::request::routes::AppRoute;
use pingora::http::RequestHeader;

impl Gateway {
    /// The project `req` names on `app` in `workspace_id`, and whether it
    /// is archived; `None`: decided on the workspace.
    pub(super) async fn request_project<'r>(
        &self,
        req: &'r RequestHeader,
        app: &AppRoute,
        workspace_id: &str,
        resolved: &Resolved,
        asker: ProjectAsker<'_>,
        ctx: &Ctx,
    ) -> Result<Option<(&'r str, bool)>, Refusal> {
        let Some(rule) = app.project() else {
            return Ok(None);
        };
        // An id that cannot be one names no project of this workspace.
        let named = rule
            .named(req.uri.path(), &req.headers)
            .map_err(|e| match e {
                ProjectNameError::NotAnId(_) => Refusal::NoSuchProject,
                ProjectNameError::Unreadable => Refusal::BadRequest,
            })?;
        let Some(project_id) = named else {
            return if rule.required {
                Err(Refusal::ProjectRequired)
            } else {
                Ok(None)
            };
        };
        if resolved.role.is_none() {
            return Ok(None);
        }
        match Box::pin(self.resolver.project(project_id, workspace_id, asker)).await {
            Ok(Some(archived)) => Ok(Some((project_id, archived))),
            Ok(None) => Err(Refusal::NoSuchProject),
            Err(ResolveError::Revoked) => Err(Refusal::Authn(AuthnError::Revoked)),
            Err(ResolveError::Unavailable(why)) => Err(self.unavailable(&why, ctx)),
        }
    }
}
