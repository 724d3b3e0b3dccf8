//! Reading decision data for a gateway's cache miss.

use super::membership::projects_of;
use super::scope::set_scope;
use super::work::Scope;
use super::{Store, StoreError};
use sqlx::{Any, Row, Transaction};
use wrnexus_policies::{DecisionData, Entry, EntryKey, Role, VersionedEntry, WorkspaceStatus};

impl Store {
    /// Put the entry of `project_id` in `data`: the workspace it is in and
    /// whether it is archived, at its version; [`Entry::Missing`] at
    /// `now_version` if there is no such project. Read across workspaces:
    /// the entry is the project's, shared by every gateway and every caller
    /// (the gateway compares its workspace with the request's), so it must
    /// be the truth, whichever workspace asked.
    async fn put_project(
        &self,
        tx: &mut Transaction<'static, Any>,
        project_id: &str,
        now_version: i64,
        data: &mut DecisionData,
    ) -> Result<(), StoreError> {
        set_scope(self.backend(), tx, Scope::system()).await?;
        let row =
            sqlx::query("SELECT workspace_id, archived_at, version FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_optional(&mut **tx)
                .await?;
        let entry = match row {
            Some(r) => VersionedEntry {
                version: r.try_get("version")?,
                entry: Entry::Project {
                    workspace_id: r.try_get("workspace_id")?,
                    archived: r.try_get::<Option<i64>, _>("archived_at")?.is_some(),
                },
            },
            None => VersionedEntry {
                version: now_version,
                entry: Entry::Missing,
            },
        };
        data.entries
            .insert(EntryKey::Project(project_id.to_string()).cache_key(), entry);
        Ok(())
    }

    /// The session, user, membership and workspace entries one request
    /// needs, and the entry of the project it names, if it names one.
    #[tracing::instrument(name = "store.decision_data", skip_all)]
    pub async fn decision_data(
        &self,
        session_id: &str,
        user_id: &str,
        workspace_id: &str,
        project_id: Option<&str>,
    ) -> Result<DecisionData, StoreError> {
        // Absent rows are answered at the current version, so that an
        // answer read after a deletion outranks what the deletion replaced.
        let mut tx = self.read(Scope::member(workspace_id, user_id)).await?;
        let now_version: i64 =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'decision'")
                .fetch_one(&mut *tx)
                .await?;
        let mut data = DecisionData::default();
        let mut put = |key: EntryKey, version: i64, entry: Entry| {
            data.entries
                .insert(key.cache_key(), VersionedEntry { version, entry });
        };

        let session =
            sqlx::query("SELECT user_id, revoked_at, version FROM sessions WHERE id = $1")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
        match session {
            Some(r) => put(
                EntryKey::session(user_id, session_id),
                r.try_get("version")?,
                Entry::Session {
                    user_id: r.try_get("user_id")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                },
            ),
            None => put(
                EntryKey::session(user_id, session_id),
                now_version,
                Entry::Missing,
            ),
        }

        let user =
            sqlx::query("SELECT disabled_at, email_verified_at, version FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        match user {
            Some(r) => put(
                EntryKey::User(user_id.to_string()),
                r.try_get("version")?,
                Entry::User {
                    disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                    email_verified: r.try_get::<Option<i64>, _>("email_verified_at")?.is_some(),
                },
            ),
            None => put(
                EntryKey::User(user_id.to_string()),
                now_version,
                Entry::Missing,
            ),
        }

        let membership = sqlx::query(
            "SELECT role, projects, version FROM memberships WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (version, role, projects) = match membership {
            Some(r) => {
                let role: String = r.try_get("role")?;
                let role = role
                    .parse::<Role>()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let projects: Option<String> = r.try_get("projects")?;
                let projects = projects.and_then(|p| serde_json::from_str(&p).ok());
                (r.try_get("version")?, Some(role), projects)
            }
            None => (now_version, None, None),
        };
        put(
            EntryKey::membership(workspace_id, user_id),
            version,
            Entry::Membership { role, projects },
        );

        // A non-member learns nothing about the workspace: its entry is
        // left out (gateways deny on the membership alone).
        if role.is_none() {
            if let Some(project_id) = project_id {
                self.put_project(&mut tx, project_id, now_version, &mut data)
                    .await?;
            }
            return Ok(data);
        }
        let workspace = sqlx::query(
            "SELECT status, plan, version, sign_in_methods, max_session_age_secs \
             FROM workspaces WHERE id = $1",
        )
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        match workspace {
            Some(r) => {
                let status: String = r.try_get("status")?;
                let status = status
                    .parse::<WorkspaceStatus>()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                put(
                    EntryKey::Workspace(workspace_id.to_string()),
                    r.try_get("version")?,
                    Entry::Workspace {
                        status,
                        plan: r.try_get("plan")?,
                        sign_in_methods: sign_in_methods_of(&r)?,
                        max_session_age_secs: r.try_get("max_session_age_secs")?,
                    },
                );
            }
            None => put(
                EntryKey::Workspace(workspace_id.to_string()),
                now_version,
                Entry::Missing,
            ),
        }
        if let Some(project_id) = project_id {
            self.put_project(&mut tx, project_id, now_version, &mut data)
                .await?;
        }
        Ok(data)
    }
}

impl Store {
    /// The entries an API key's requests need: the key (revoked or expired
    /// ones too, so the refusal can be cached), its workspace, and the
    /// project a request names, if it names one.
    #[tracing::instrument(name = "store.key_decision_data", skip_all)]
    pub async fn key_decision_data(
        &self,
        key_id: &str,
        project_id: Option<&str>,
    ) -> Result<DecisionData, StoreError> {
        let mut tx = self.read(Scope::system()).await?;
        let now_version: i64 =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'decision'")
                .fetch_one(&mut *tx)
                .await?;
        let mut data = DecisionData::default();
        let key = sqlx::query(
            "SELECT k.workspace_id, k.role_ceiling, k.secret_hash, k.expires_at, k.revoked_at, \
             k.projects, k.version, w.status, w.plan, w.version AS workspace_version, \
             w.sign_in_methods, w.max_session_age_secs \
             FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.id = $1",
        )
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = key else {
            data.entries.insert(
                EntryKey::ApiKey(key_id.to_string()).cache_key(),
                VersionedEntry {
                    version: now_version,
                    entry: Entry::Missing,
                },
            );
            return Ok(data);
        };
        let workspace_id: String = r.try_get("workspace_id")?;
        let decode = |e: wrnexus_policies::model::UnknownName| sqlx::Error::Decode(Box::new(e));
        let role: String = r.try_get("role_ceiling")?;
        let status: String = r.try_get("status")?;
        data.entries.insert(
            EntryKey::ApiKey(key_id.to_string()).cache_key(),
            VersionedEntry {
                version: r.try_get("version")?,
                entry: Entry::ApiKey {
                    workspace_id: workspace_id.clone(),
                    role_ceiling: role.parse::<Role>().map_err(decode)?,
                    secret_hash: r.try_get("secret_hash")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                    projects: projects_of(r.try_get("projects")?),
                },
            },
        );
        data.entries.insert(
            EntryKey::Workspace(workspace_id).cache_key(),
            VersionedEntry {
                version: r.try_get("workspace_version")?,
                entry: Entry::Workspace {
                    status: status.parse::<WorkspaceStatus>().map_err(decode)?,
                    plan: r.try_get("plan")?,
                    sign_in_methods: sign_in_methods_of(&r)?,
                    max_session_age_secs: r.try_get("max_session_age_secs")?,
                },
            },
        );
        if let Some(project_id) = project_id {
            self.put_project(&mut tx, project_id, now_version, &mut data)
                .await?;
        }
        Ok(data)
    }
}

/// A workspace row's sign-in methods (`sign_in_methods`, comma-separated).
fn sign_in_methods_of(
    row: &sqlx::any::AnyRow,
) -> Result<wrnexus_policies::SignInMethods, sqlx::Error> {
    let list: String = row.try_get("sign_in_methods")?;
    wrnexus_policies::SignInMethods::parse_list(&list).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
