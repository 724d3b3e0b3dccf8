//! Sessions (revocable by id; sign-in and sign-out audited in the same
//! transaction) and the control plane's signing keys.

use super::audit::{ActorKind, AuditRecord, Meta};
use super::membership::membership_in;
use super::revocation::personal_workspace;
use super::work::{Scope, Work};
use super::{Store, StoreError, new_id, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_policies::{Entry, EntryKey};

/// A session row.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub revoked: bool,
}

/// A stored signing key (private half as base64 PKCS#8 DER).
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub private_key: String,
    pub public_key: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Longest user agent a session keeps (longer ones are cut).
pub const MAX_SESSION_USER_AGENT: usize = 256;

/// `agent` cut to [`MAX_SESSION_USER_AGENT`] bytes, on a character boundary.
fn cut_agent(agent: &str) -> &str {
    let mut end = agent.len().min(MAX_SESSION_USER_AGENT);
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    &agent[..end]
}

/// Insert a live session for `user_id` within `work`, and push it. The
/// device it starts on (`meta`'s client address and user agent) is kept
/// with it, and it is last seen now.
async fn insert_session(
    work: &mut Work,
    user_id: &str,
    ttl_secs: i64,
    meta: &Meta,
) -> Result<Session, StoreError> {
    let version = work.version().await?;
    let id = new_id();
    let now = now();
    let expires_at = now.saturating_add(ttl_secs);
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, version, client_ip, \
         user_agent, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $3)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .bind(version)
    .bind(meta.ip.as_deref())
    .bind(meta.user_agent.as_deref().map(cut_agent))
    .execute(&mut *work.tx)
    .await?;
    work.push(
        EntryKey::Session(id.clone()),
        Entry::Session {
            user_id: user_id.to_string(),
            revoked: false,
        },
    )
    .await?;
    Ok(Session {
        id,
        user_id: user_id.to_string(),
        expires_at,
        revoked: false,
    })
}

/// Where a user's own session events go: `workspace_id` while they are a
/// member of it, else their personal workspace.
pub(crate) async fn own_workspace(
    work: &mut Work,
    user_id: &str,
    workspace_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if let Some(id) = workspace_id {
        work.scope(Scope::member(id, user_id)).await?;
        if membership_in(work, id, user_id).await?.is_some() {
            return Ok(Some(id.to_string()));
        }
    }
    work.scope(Scope::user(user_id)).await?;
    let personal = personal_workspace(work, user_id).await?;
    if let Some(id) = &personal {
        work.scope(Scope::member(id, user_id)).await?;
    }
    Ok(personal)
}

impl Store {
    /// Start a session for a user (right after sign-up, whose own audit row
    /// records it), on no known device.
    pub async fn create_session(
        &self,
        user_id: &str,
        ttl_secs: i64,
    ) -> Result<Session, StoreError> {
        self.start_session(user_id, ttl_secs, &Meta::system()).await
    }

    /// Start a session for a user on the device `meta` names (its client
    /// address and user agent), e.g. right after sign-up, whose own audit
    /// row records it.
    pub async fn start_session(
        &self,
        user_id: &str,
        ttl_secs: i64,
        meta: &Meta,
    ) -> Result<Session, StoreError> {
        let mut work = self.work(Scope::user(user_id), meta).await?;
        let session = insert_session(&mut work, user_id, ttl_secs, meta).await?;
        self.finish(work).await?;
        Ok(session)
    }

    /// Sign a user in to `workspace_id`: the session and its `signin` audit
    /// row (with `meta`'s actor, address, user agent and request id) are
    /// written together or not at all.
    pub async fn sign_in(
        &self,
        user_id: &str,
        workspace_id: &str,
        ttl_secs: i64,
        meta: &Meta,
    ) -> Result<Session, StoreError> {
        let meta = meta.with_actor(ActorKind::User, user_id);
        let mut work = self
            .work(Scope::member(workspace_id, user_id), &meta)
            .await?;
        let session = insert_session(&mut work, user_id, ttl_secs, &meta).await?;
        work.audit(
            AuditRecord::success(workspace_id, "signin", user_id)
                .with_detail(json!({ "session_id": session.id })),
        )
        .await?;
        self.finish(work).await?;
        Ok(session)
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let row =
            sqlx::query("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| -> Result<Session, StoreError> {
            Ok(Session {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                expires_at: r.try_get("expires_at")?,
                revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        })
        .transpose()
    }

    /// Sign out: revoke a session (every gateway refuses it from the next
    /// request on) and audit `session.signed_out` in the same transaction,
    /// in `workspace_id` (the session's current workspace) while its user
    /// is a member there, else in their personal workspace.
    pub async fn revoke_session(
        &self,
        id: &str,
        workspace_id: Option<&str>,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let mut work = self.work(Scope::default(), meta).await?;
        let version = work.version().await?;
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1, version = $2 WHERE id = $3 RETURNING user_id",
        )
        .bind(now())
        .bind(version)
        .bind(id)
        .fetch_optional(&mut *work.tx)
        .await?;
        let Some(user_id) = user_id else {
            return Err(StoreError::NotFound { what: "session" });
        };
        work.push(
            EntryKey::Session(id.to_string()),
            Entry::Session {
                user_id: user_id.clone(),
                revoked: true,
            },
        )
        .await?;
        if let Some(workspace) = own_workspace(&mut work, &user_id, workspace_id).await? {
            work.audit(
                AuditRecord::success(&workspace, "session.signed_out", &user_id)
                    .with_detail(json!({ "session_id": id })),
            )
            .await?;
        }
        self.finish(work).await
    }

    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, private_key, public_key FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.try_get("kid")?,
                    private_key: r.try_get("private_key")?,
                    public_key: r.try_get("public_key")?,
                })
            })
            .collect()
    }

    /// Store a new signing key; a concurrent control plane may win the race,
    /// which is fine: both keys are published.
    pub async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.kid)
        .bind(&key.private_key)
        .bind(&key.public_key)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
