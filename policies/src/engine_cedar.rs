//! A decision request as Cedar sees it: the principal, the resource and
//! the context, and the few entities they need (an API key with its
//! workspace, a project in its workspace with whether it is archived).

use super::PolicyEngine;
use crate::model::{NO_ROLE, Role};
use crate::request::{DecisionRequest, Principal};
use crate::sign_in::NO_SSO_WORKSPACE;
use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
    Schema,
};
use std::collections::{HashMap, HashSet};

/// The attribute of a `Project` entity that says it is archived (read-only).
pub const PROJECT_ARCHIVED: &str = "archived";

impl PolicyEngine {
    /// The Cedar request and entities of `req`, validated against `schema`
    /// when given.
    pub(super) fn request(
        &self,
        req: &DecisionRequest<'_>,
        action: EntityUid,
        schema: Option<&Schema>,
    ) -> Result<(Request, Entities), String> {
        Ok((
            self.cedar_request(req, action, schema)?,
            self.entities(req)?,
        ))
    }

    fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
    }

    fn principal_uid(&self, req: &DecisionRequest<'_>) -> EntityUid {
        match req.principal {
            Principal::User(id) => Self::uid(&self.user_type, id),
            Principal::ApiKey { id, .. } => Self::uid(&self.key_type, id),
        }
    }

    fn resource_uid(&self, req: &DecisionRequest<'_>) -> EntityUid {
        match req.project_id {
            None => Self::uid(&self.workspace_type, req.workspace_id),
            Some(project) => Self::uid(&self.project_type, project),
        }
    }

    /// The entities a request of `req`'s principal and resource is decided
    /// with: the key (with its workspace), the project (in its workspace,
    /// archived or not). Requests that share those share them.
    pub(super) fn entities(&self, req: &DecisionRequest<'_>) -> Result<Entities, String> {
        let mut entities = Vec::with_capacity(2);
        if let Principal::ApiKey { workspace_id, .. } = req.principal {
            let own = Self::uid(&self.workspace_type, workspace_id);
            let attrs = HashMap::from([(
                "workspace".to_string(),
                RestrictedExpression::new_entity_uid(own),
            )]);
            entities.push(
                Entity::new(self.principal_uid(req), attrs, HashSet::new())
                    .map_err(|e| e.to_string())?,
            );
        }
        if req.project_id.is_some() {
            let workspace = Self::uid(&self.workspace_type, req.workspace_id);
            let attrs = HashMap::from([(
                PROJECT_ARCHIVED.to_string(),
                RestrictedExpression::new_bool(req.project_archived),
            )]);
            entities.push(
                Entity::new(self.resource_uid(req), attrs, HashSet::from([workspace]))
                    .map_err(|e| e.to_string())?,
            );
        }
        if entities.is_empty() {
            Ok(Entities::empty())
        } else {
            Entities::from_entities(entities, Some(&self.loaded.schema)).map_err(|e| e.to_string())
        }
    }

    /// The Cedar request of `req` (without its entities), validated against
    /// `schema` when given.
    pub(super) fn cedar_request(
        &self,
        req: &DecisionRequest<'_>,
        action: EntityUid,
        schema: Option<&Schema>,
    ) -> Result<Request, String> {
        let granted = req
            .granted_projects
            .unwrap_or_default()
            .iter()
            .map(|p| RestrictedExpression::new_entity_uid(Self::uid(&self.project_type, p)));
        let string = |s: &str| RestrictedExpression::new_string(s.to_string());
        let context = Context::from_pairs([
            (
                "role".to_string(),
                string(req.role.map_or(NO_ROLE, Role::as_str)),
            ),
            (
                "workspace_status".to_string(),
                string(req.workspace_status.as_str()),
            ),
            ("plan".to_string(), string(req.plan)),
            ("method".to_string(), string(req.method)),
            ("path".to_string(), string(req.path)),
            ("credential".to_string(), string(req.credential().as_str())),
            (
                "email_verified".to_string(),
                RestrictedExpression::new_bool(req.email_verified),
            ),
            (
                "project_limited".to_string(),
                RestrictedExpression::new_bool(req.granted_projects.is_some()),
            ),
            (
                "granted_projects".to_string(),
                RestrictedExpression::new_set(granted),
            ),
            ("sign_in_method".to_string(), string(req.sign_in.method)),
            (
                "sso_workspace".to_string(),
                RestrictedExpression::new_entity_uid(Self::uid(
                    &self.workspace_type,
                    req.sign_in.sso_workspace_id.unwrap_or(NO_SSO_WORKSPACE),
                )),
            ),
            (
                "allowed_sign_in_methods".to_string(),
                RestrictedExpression::new_set(
                    req.sign_in.allowed.iter().map(|m| string(m.as_str())),
                ),
            ),
            (
                "max_session_age_secs".to_string(),
                RestrictedExpression::new_long(req.sign_in.max_session_age_secs),
            ),
            (
                "session_age_secs".to_string(),
                RestrictedExpression::new_long(req.sign_in.session_age_secs),
            ),
        ])
        .map_err(|e| e.to_string())?;
        Request::new(
            self.principal_uid(req),
            action,
            self.resource_uid(req),
            context,
            schema,
        )
        .map_err(|e| e.to_string())
    }
}
