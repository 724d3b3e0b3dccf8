//! Sessions (revocable by id) and the control plane's signing keys.

use super::{Store, StoreError, new_id, next_version, now};
use sqlx::Row;
use wrnexus_policies::{Entry, EntryKey, VersionedEntry};

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

impl Store {
    /// Start a session for a user.
    pub async fn create_session(
        &self,
        user_id: &str,
        ttl_secs: i64,
    ) -> Result<Session, StoreError> {
        let mut tx = self.begin().await?;
        let version = next_version(&mut tx).await?;
        let id = new_id();
        let now = now();
        let expires_at = now.saturating_add(ttl_secs);
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, version) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        let changes = vec![(
            EntryKey::Session(id.clone()),
            VersionedEntry {
                version,
                entry: Entry::Session {
                    user_id: user_id.to_string(),
                    revoked: false,
                },
            },
        )];
        self.commit(tx, changes).await?;
        Ok(Session {
            id,
            user_id: user_id.to_string(),
            expires_at,
            revoked: false,
        })
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

    /// Revoke a session; every gateway refuses it from the next request on.
    pub async fn revoke_session(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let version = next_version(&mut tx).await?;
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1, version = $2 WHERE id = $3 RETURNING user_id",
        )
        .bind(now())
        .bind(version)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Err(StoreError::NotFound { what: "session" });
        };
        let changes = vec![(
            EntryKey::Session(id.to_string()),
            VersionedEntry {
                version,
                entry: Entry::Session {
                    user_id,
                    revoked: true,
                },
            },
        )];
        self.commit(tx, changes).await
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
