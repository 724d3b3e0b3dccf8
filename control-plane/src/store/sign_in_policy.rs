//! A workspace's sign-in policy: the methods its sessions may have been
//! signed in with (`sso` alone: "require SSO") and how old they may be.
//! Changing it bumps the workspace entry's version and pushes it, so every
//! gateway enforces the new policy on the next request.

use super::audit::{AuditRecord, Meta};
use super::work::{Scope, Work};
use super::workspaces::{lock_workspace, workspace_entry};
use super::{Store, StoreError};
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{EntryKey, SignInMethods};

/// The shortest maximum session age a workspace may set (seconds).
pub const MIN_SESSION_AGE_SECS: i64 = 300;

/// A workspace's sign-in policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInPolicy {
    pub methods: SignInMethods,
    /// `None`: sessions of any age.
    pub max_session_age_secs: Option<i64>,
}

impl SignInPolicy {
    /// Whether only the workspace's own IdP signs its people in.
    pub fn requires_sso(&self) -> bool {
        self.methods.requires_sso()
    }

    fn facts(&self) -> serde_json::Value {
        json!({
            "methods": self.methods,
            "max_session_age_secs": self.max_session_age_secs,
            "require_sso": self.requires_sso(),
        })
    }
}

/// Whether the workspace has an enabled connection to its own IdP.
async fn has_enabled_connection(work: &mut Work, workspace_id: &str) -> Result<bool, StoreError> {
    let enabled: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sso_connections WHERE workspace_id = $1 AND enabled = $2",
    )
    .bind(workspace_id)
    .bind(true)
    .fetch_optional(&mut *work.tx)
    .await?;
    Ok(enabled.is_some())
}

impl Store {
    /// The workspace's sign-in policy.
    #[tracing::instrument(name = "store.sign_in_policy", skip_all)]
    pub async fn sign_in_policy(&self, workspace_id: &str) -> Result<SignInPolicy, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let row = sqlx::query(
            "SELECT sign_in_methods, max_session_age_secs FROM workspaces WHERE id = $1",
        )
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound { what: "workspace" })?;
        let list: String = row.try_get("sign_in_methods")?;
        Ok(SignInPolicy {
            methods: SignInMethods::parse_list(&list)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            max_session_age_secs: row.try_get("max_session_age_secs")?,
        })
    }

    /// Set the workspace's sign-in policy: pushed to every gateway, audited
    /// and emitted (`workspace.sign_in_policy.updated`). "Require SSO"
    /// without an enabled connection to the workspace's IdP would lock
    /// everyone out: refused (`sso_connection_missing`).
    #[tracing::instrument(name = "store.set_sign_in_policy", skip_all)]
    pub async fn set_sign_in_policy(
        &self,
        workspace_id: &str,
        policy: SignInPolicy,
        meta: &Meta,
    ) -> Result<SignInPolicy, StoreError> {
        if policy.methods.is_empty() {
            return Err(StoreError::Invalid {
                code: ProblemCode::InvalidList.as_str(),
                field: "methods",
                message: "`methods` must name at least one way of signing in".to_string(),
            });
        }
        if policy
            .max_session_age_secs
            .is_some_and(|age| age < MIN_SESSION_AGE_SECS)
        {
            return Err(StoreError::Invalid {
                code: ProblemCode::InvalidField.as_str(),
                field: "max_session_age_secs",
                message: format!(
                    "`max_session_age_secs` must be at least {MIN_SESSION_AGE_SECS}, or null"
                ),
            });
        }
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        // Locked, and its entry's version bumped: the push below outranks
        // any entry written before.
        let before = lock_workspace(&mut work, workspace_id).await?;
        if policy.requires_sso() && !has_enabled_connection(&mut work, workspace_id).await? {
            return Err(StoreError::conflict(
                ProblemCode::SsoConnectionMissing.as_str(),
                "requiring SSO needs an enabled single sign-on connection: set one up first",
            ));
        }
        sqlx::query(
            "UPDATE workspaces SET sign_in_methods = $1, max_session_age_secs = $2 WHERE id = $3",
        )
        .bind(policy.methods.to_list())
        .bind(policy.max_session_age_secs)
        .bind(workspace_id)
        .execute(&mut *work.tx)
        .await?;
        let previous = SignInPolicy {
            methods: before.sign_in_methods,
            max_session_age_secs: before.max_session_age_secs,
        };
        let workspace = super::workspaces::Workspace {
            sign_in_methods: policy.methods,
            max_session_age_secs: policy.max_session_age_secs,
            ..before
        };
        work.push(
            EntryKey::Workspace(workspace_id.to_string()),
            workspace_entry(&workspace),
        )
        .await?;
        let detail = json!({ "from": previous.facts(), "to": policy.facts() });
        work.audit(
            AuditRecord::success(
                workspace_id,
                "workspace.sign_in_policy.updated",
                workspace_id,
            )
            .with_detail(detail),
        )
        .await?;
        work.emit(
            workspace_id,
            "workspace.sign_in_policy.updated",
            json!({ "workspace_id": workspace_id, "sign_in_policy": policy.facts() }),
        )
        .await?;
        self.finish(work).await?;
        Ok(policy)
    }
}
