//! Single-use links of a person's own account: an email verification or a
//! password reset. The token (32 random bytes, base64url) is mailed; only
//! its hash is stored. A new link of a purpose replaces the person's older
//! unused ones, and a link is used at most once, atomically.

use super::work::Work;
use super::{StoreError, new_id, now};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use wrnexus_contract::ProblemCode;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    /// Its name in the `purpose` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

/// A link just made: the token (mailed, never stored) and its expiry.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_at: i64,
}

/// A link that was used now: whose, and the address it was sent to.
#[derive(Debug, Clone)]
pub struct Used {
    pub user_id: String,
    pub email: String,
}

/// A link as it stands, unchanged by looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Usable,
    Used,
    Expired,
    Unknown,
}

/// Hash a token for storage and lookup: SHA-256, base64url (the scheme of
/// invitation tokens).
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token: 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The refusal for a link that cannot be used, as the API answers it.
pub fn refusal(standing: Standing) -> StoreError {
    match standing {
        Standing::Used => StoreError::conflict(
            ProblemCode::TokenUsed.as_str(),
            "this link was already used; ask for a new one",
        ),
        Standing::Expired => StoreError::conflict(
            ProblemCode::TokenExpired.as_str(),
            "this link has expired; ask for a new one",
        ),
        Standing::Unknown | Standing::Usable => StoreError::Invalid {
            code: ProblemCode::TokenInvalid.as_str(),
            field: "token",
            message: "this link is not valid (a newer one may have replaced it); ask for a new one"
                .to_string(),
        },
    }
}

/// Make a link of `purpose` for `user_id` proving `email`, valid for
/// `ttl_secs`, inside `work`; the person's older unused links of the same
/// purpose stop working.
#[tracing::instrument(name = "store.issue", skip_all)]
pub(crate) async fn issue(
    work: &mut Work,
    user_id: &str,
    purpose: Purpose,
    email: &str,
    ttl_secs: i64,
) -> Result<Issued, StoreError> {
    sqlx::query(
        "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(&mut *work.tx)
    .await?;
    let token = new_token();
    let at = now();
    let expires_at = at.saturating_add(ttl_secs);
    sqlx::query(
        "INSERT INTO account_tokens (id, token_hash, user_id, purpose, email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(email)
    .bind(at)
    .bind(expires_at)
    .execute(&mut *work.tx)
    .await?;
    Ok(Issued { token, expires_at })
}

/// Where a link of `purpose` stands, and whose it is (nothing changes).
#[tracing::instrument(name = "store.standing", skip_all)]
pub(crate) async fn standing(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    token: &str,
    purpose: Purpose,
) -> Result<(Standing, Option<Used>), StoreError> {
    let row = sqlx::query(
        "SELECT user_id, email, expires_at, used_at FROM account_tokens \
         WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(token_hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok((Standing::Unknown, None));
    };
    let owner = Used {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
    };
    let standing = if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
        Standing::Used
    } else if row.try_get::<i64, _>("expires_at")? <= now() {
        Standing::Expired
    } else {
        Standing::Usable
    };
    Ok((standing, Some(owner)))
}

/// Use a link of `purpose` inside `work`: marked used only if it was
/// unused and unexpired, in one statement, so two uses cannot both win.
/// An unknown, used or expired link is refused and nothing changes.
#[tracing::instrument(name = "store.consume", skip_all)]
pub(crate) async fn consume(
    work: &mut Work,
    token: &str,
    purpose: Purpose,
) -> Result<Used, StoreError> {
    let at = now();
    let row = sqlx::query(
        "UPDATE account_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id, email",
    )
    .bind(at)
    .bind(token_hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut *work.tx)
    .await?;
    match row {
        Some(row) => Ok(Used {
            user_id: row.try_get("user_id")?,
            email: row.try_get("email")?,
        }),
        None => {
            let (standing, _) = standing(&mut work.tx, token, purpose).await?;
            Err(refusal(standing))
        }
    }
}

/// The address a pending change of email would switch to: the newest
/// unused, unexpired verification link for another address than `current`.
#[tracing::instrument(name = "store.pending_email", skip_all)]
pub(crate) async fn pending_email(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    current: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM account_tokens \
         WHERE user_id = $1 AND purpose = 'verify_email' AND used_at IS NULL \
         AND expires_at > $2 AND email <> $3 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(now())
    .bind(current)
    .fetch_optional(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_random_bytes_in_base64url() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, new_token());
        assert_ne!(token_hash(&a), a);
    }
}
