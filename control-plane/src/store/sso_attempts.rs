//! Sign-ins sent to a provider and not back yet: stored by the hash of
//! their `state`, taken back once (single use) and only in time.

use super::{Store, StoreError, now};
use sqlx::Row;

/// One sign-in in flight. Holds the PKCE verifier and the nonce: never
/// logged.
#[derive(Clone)]
pub struct Attempt {
    /// `workspace:<connection id>` or `instance:<provider name>`.
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A same-origin path.
    pub return_to: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Keep a sign-in in flight under `state_hash` (and forget the ones
    /// that ran out).
    #[tracing::instrument(name = "store.insert_sso_attempt", skip_all)]
    pub async fn insert_sso_attempt(
        &self,
        state_hash: &str,
        attempt: &Attempt,
    ) -> Result<(), StoreError> {
        let at = now();
        sqlx::query("DELETE FROM sso_attempts WHERE expires_at < $1")
            .bind(at)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO sso_attempts (state_hash, provider, nonce, pkce_verifier, return_to, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(&attempt.provider)
        .bind(&attempt.nonce)
        .bind(&attempt.pkce_verifier)
        .bind(&attempt.return_to)
        .bind(at)
        .bind(attempt.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Take the sign-in kept under `state_hash` back: one statement that
    /// deletes it, so only one callback ever gets it, and only in time.
    #[tracing::instrument(name = "store.take_sso_attempt", skip_all)]
    pub async fn take_sso_attempt(&self, state_hash: &str) -> Result<Option<Attempt>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM sso_attempts WHERE state_hash = $1 AND expires_at >= $2 \
             RETURNING provider, nonce, pkce_verifier, return_to, expires_at",
        )
        .bind(state_hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| -> Result<Attempt, StoreError> {
            Ok(Attempt {
                provider: r.try_get("provider")?,
                nonce: r.try_get("nonce")?,
                pkce_verifier: r.try_get("pkce_verifier")?,
                return_to: r.try_get("return_to")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}
