//! The verified identity forwarded to an app: who acts, in which workspace,
//! with which role. Its header values are made once, when the identity is,
//! so a connection that keeps one (see `remembered`) forwards it again
//! without copying.

use http::HeaderValue;
use http::header::InvalidHeaderValue;
use wrnexus_policies::{EntryKey, Principal, Role};

/// Who acts: a person, or an API key.
#[derive(Debug, Clone)]
pub enum Who {
    User(String),
    ApiKey(String),
}

/// An allowed request's principal, workspace and role.
#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Who,
    pub workspace_id: String,
    pub role: Role,
    /// The session behind a person's request.
    pub session_id: Option<String>,
    /// The project the request was decided on, and its `X-Project-Id`.
    pub project: Option<(String, HeaderValue)>,
    /// `X-Workspace-Id`, then `X-User-Id` or `X-Api-Key-Id`.
    values: [HeaderValue; 2],
}

impl Identity {
    /// `principal` acting in `workspace_id` as `role` (in `session_id`, for
    /// a person); refused if an id cannot be a header value (ids are made by
    /// the control plane, so this would be a bug, not an attack).
    pub fn new(
        principal: Principal<'_>,
        workspace_id: &str,
        role: Role,
        session_id: Option<&str>,
    ) -> Result<Self, InvalidHeaderValue> {
        let (id, principal) = match principal {
            Principal::User(id) => (id, Who::User(id.to_string())),
            Principal::ApiKey { id, .. } => (id, Who::ApiKey(id.to_string())),
        };
        let values = [
            HeaderValue::from_str(workspace_id)?,
            HeaderValue::from_str(id)?,
        ];
        Ok(Identity {
            principal,
            workspace_id: workspace_id.to_string(),
            role,
            session_id: session_id.map(str::to_string),
            project: None,
            values,
        })
    }

    /// The same identity, decided on `project_id`.
    pub fn in_project(mut self, project_id: &str) -> Result<Self, InvalidHeaderValue> {
        self.project = Some((project_id.to_string(), HeaderValue::from_str(project_id)?));
        Ok(self)
    }

    /// The principal's id.
    pub fn principal_id(&self) -> &str {
        match &self.principal {
            Who::User(id) | Who::ApiKey(id) => id,
        }
    }

    /// The workspace id as a header value.
    pub fn workspace_value(&self) -> &HeaderValue {
        &self.values[0]
    }

    /// The principal's id as a header value.
    pub fn principal_value(&self) -> &HeaderValue {
        &self.values[1]
    }

    /// The decision data this identity's access rests on.
    pub fn depends_on(&self) -> Vec<String> {
        let mut keys = vec![EntryKey::Workspace(self.workspace_id.clone()).cache_key()];
        match &self.principal {
            Who::User(user) => {
                keys.push(EntryKey::membership(&self.workspace_id, user).cache_key());
                keys.push(EntryKey::User(user.clone()).cache_key());
            }
            Who::ApiKey(key) => keys.push(EntryKey::ApiKey(key.clone()).cache_key()),
        }
        if let (Some(sid), Who::User(user)) = (&self.session_id, &self.principal) {
            keys.push(EntryKey::session(user, sid).cache_key());
        }
        if let Some((project, _)) = &self.project {
            keys.push(EntryKey::Project(project.clone()).cache_key());
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_the_ids_and_bad_ids_are_refused() {
        let alice = Identity::new(Principal::User("u1"), "w1", Role::Member, None);
        let alice = alice.map_err(|e| e.to_string());
        assert_eq!(
            alice.as_ref().map(|a| (
                a.workspace_value().as_bytes(),
                a.principal_value().as_bytes(),
                a.principal_id()
            )),
            Ok((&b"w1"[..], &b"u1"[..], "u1"))
        );
        let key = Principal::ApiKey {
            id: "k\n1",
            workspace_id: "w1",
        };
        let bad = Identity::new(key, "w1", Role::Viewer, None);
        assert!(bad.is_err());
    }
}
