//! API keys: `wrn_<key id>_<secret>`, bound to one workspace with a role
//! ceiling. Only a SHA-256 of the secret is stored (the secret is 256 random
//! bits, so a slow hash adds nothing); comparison is constant-time.

pub use super::api_key_row::ApiKey;
use super::api_key_row::{COLUMNS, key_from_row};
use super::audit::{ActorKind, AuditRecord, Meta, Outcome};
use super::made_by::person_behind;
use super::projects::projects_of_workspace;
use super::work::Scope;
use super::workspaces::lock_workspace;
use super::{Store, StoreError, now};
use rand::RngCore;
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
pub use wrnexus_policies::api_key::KEY_PREFIX;
use wrnexus_policies::api_key::{parse as parse_key, secret_hash, secret_matches};
use wrnexus_policies::{EntryKey, Role};

/// How often `last_used_at` is written at most, per key.
pub(crate) const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// The audit action of a key use; failures carry the reason in `detail`.
pub const KEY_USE_ACTION: &str = "api_key.used";

/// Why a presented key was refused. The caller learns only "invalid key".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Malformed,
    Unknown,
    WrongSecret,
    Revoked,
    Expired,
}

impl KeyRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRefusal::Malformed => "malformed",
            KeyRefusal::Unknown => "unknown",
            KeyRefusal::WrongSecret => "wrong_secret",
            KeyRefusal::Revoked => "revoked",
            KeyRefusal::Expired => "expired",
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    #[tracing::instrument(name = "store.api_keys", skip_all)]
    pub async fn api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let mut tx = self.read(Scope::workspace(workspace_id)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE workspace_id = $1 ORDER BY created_at DESC, id"
        )))
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// Create a key; returns it and the full secret, which is never shown
    /// again. The key records the person behind it (see [`ApiKey::created_by_user`]).
    /// Its ceiling cannot exceed that person's current role here, nor the
    /// ceiling of the key creating it (`ceiling_above_role`), as read under
    /// the workspace lock. `projects` limits it to projects of this
    /// workspace (`unknown_project` otherwise; an empty list is refused:
    /// `None` means every project).
    #[tracing::instrument(name = "store.create_api_key", skip_all)]
    pub async fn create_api_key(
        &self,
        workspace_id: &str,
        name: &str,
        role_ceiling: Role,
        expires_at: Option<i64>,
        projects: Option<Vec<String>>,
        meta: &Meta,
    ) -> Result<(ApiKey, String), StoreError> {
        if projects.as_ref().is_some_and(Vec::is_empty) {
            return Err(StoreError::Invalid {
                code: ProblemCode::InvalidList.as_str(),
                field: "projects",
                message: "`projects` names no project: give at least one, or leave it out \
                          for every project"
                    .to_string(),
            });
        }
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        lock_workspace(&mut work, workspace_id).await?;
        let projects = match projects {
            Some(p) => Some(projects_of_workspace(&mut work, workspace_id, p, "projects").await?),
            None => None,
        };
        let behind = person_behind(&mut work, meta, workspace_id).await?;
        // Roles order strongest first.
        if let Some(bound) = behind.bound
            && role_ceiling < bound
        {
            return Err(StoreError::Forbidden {
                code: ProblemCode::CeilingAboveRole.as_str(),
                message: format!("a key's `role_ceiling` cannot exceed your own role `{bound}`"),
            });
        }
        let version = work.version().await?;
        let id = random_hex(8);
        let secret = random_hex(32);
        let hash = secret_hash(&secret);
        let key = ApiKey {
            prefix: format!("{KEY_PREFIX}{id}"),
            id: id.clone(),
            workspace_id: workspace_id.to_string(),
            name: name.to_string(),
            role_ceiling,
            created_by: meta.actor_id.clone(),
            created_by_user: behind.person,
            created_at: now(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
            projects,
        };
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, name, secret_hash, role_ceiling, created_by, \
             created_by_user, created_at, expires_at, projects, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(workspace_id)
        .bind(name)
        .bind(&hash)
        .bind(role_ceiling.as_str())
        .bind(key.created_by.as_deref())
        .bind(key.created_by_user.as_deref())
        .bind(key.created_at)
        .bind(expires_at)
        .bind(key.projects.as_ref().map(|p| json!(p).to_string()))
        .bind(version)
        .execute(&mut *work.tx)
        .await?;
        work.audit(
            AuditRecord::success(workspace_id, "api_key.created", &id).with_detail(json!({
                "name": name,
                "role_ceiling": role_ceiling,
                "projects": key.projects,
            })),
        )
        .await?;
        work.emit(workspace_id, "api_key.created", json!({ "api_key": &key }))
            .await?;
        work.push(EntryKey::ApiKey(id.clone()), key.entry(hash, false))
            .await?;
        self.finish(work).await?;
        let token = format!("{KEY_PREFIX}{id}_{secret}");
        Ok((key, token))
    }

    /// Revoke a key of `workspace_id`; every gateway refuses it at once.
    #[tracing::instrument(name = "store.revoke_api_key", skip_all)]
    pub async fn revoke_api_key(
        &self,
        workspace_id: &str,
        key_id: &str,
        meta: &Meta,
    ) -> Result<ApiKey, StoreError> {
        let mut work = self.work(Scope::workspace(workspace_id), meta).await?;
        let version = work.version().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1), version = $2 \
             WHERE workspace_id = $3 AND id = $4 RETURNING {COLUMNS}"
        )))
        .bind(now())
        .bind(version)
        .bind(workspace_id)
        .bind(key_id)
        .fetch_optional(&mut *work.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "api key" });
        };
        let key = key_from_row(&row)?;
        work.audit(AuditRecord::success(
            workspace_id,
            "api_key.revoked",
            key_id,
        ))
        .await?;
        work.emit(workspace_id, "api_key.revoked", json!({ "api_key": &key }))
            .await?;
        work.push(
            EntryKey::ApiKey(key_id.to_string()),
            key.entry(row.try_get("secret_hash")?, true),
        )
        .await?;
        self.finish(work).await?;
        Ok(key)
    }

    /// Check a presented key. A refusal is audited (in the key's workspace
    /// when the key id is known) and answered without detail.
    #[tracing::instrument(name = "store.authenticate_api_key", skip_all)]
    pub async fn authenticate_api_key(
        &self,
        token: &str,
        meta: &Meta,
    ) -> Result<Result<ApiKey, KeyRefusal>, StoreError> {
        let Some((id, secret)) = parse_key(token) else {
            return Ok(Err(KeyRefusal::Malformed));
        };
        // Looked up by id alone, before its workspace is known.
        let mut work = self.work(Scope::system(), meta).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *work.tx)
        .await?;
        let refused = |work_meta: &Meta, workspace: Option<String>, why: KeyRefusal| {
            let meta = work_meta.with_actor(ActorKind::ApiKey, id);
            async move {
                self.audit_only(
                    &meta,
                    AuditRecord {
                        workspace_id: workspace.as_deref(),
                        action: KEY_USE_ACTION,
                        target: Some(id),
                        outcome: Outcome::Failure,
                        detail: Some(json!({ "reason": why.as_str() })),
                    },
                )
                .await?;
                Ok::<_, StoreError>(Err(why))
            }
        };
        let Some(row) = row else {
            drop(work);
            return refused(meta, None, KeyRefusal::Unknown).await;
        };
        let key = key_from_row(&row)?;
        let stored: String = row.try_get("secret_hash")?;
        let why = if !secret_matches(&stored, secret) {
            Some(KeyRefusal::WrongSecret)
        } else if key.revoked_at.is_some() {
            Some(KeyRefusal::Revoked)
        } else if key.expires_at.is_some_and(|e| e <= now()) {
            Some(KeyRefusal::Expired)
        } else {
            None
        };
        if let Some(why) = why {
            drop(work);
            return refused(meta, Some(key.workspace_id.clone()), why).await;
        }
        let now = now();
        if key
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_GRANULARITY_SECS)
        {
            work.scope(Scope::workspace(&key.workspace_id)).await?;
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 WHERE workspace_id = $2 AND id = $3",
            )
            .bind(now)
            .bind(&key.workspace_id)
            .bind(id)
            .execute(&mut *work.tx)
            .await?;
            self.finish(work).await?;
        }
        Ok(Ok(key))
    }
}
