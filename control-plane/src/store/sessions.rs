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
    /// How and when the user signed in (the cookie's `amr`, `auth_time`,
    /// `sso_wid`).
    pub signed_in: SignedInWith,
}

/// How a session was signed in: what its cookie's `amr`, `auth_time` and
/// `sso_wid` say, and the provider session an IdP's logout names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInWith {
    /// `pwd`, `oidc` or `sso` (see [`wrnexus_policies::claims`]).
    pub amr: Vec<String>,
    /// Unix seconds.
    pub auth_time: i64,
    /// The workspace whose own IdP it was (`sso`).
    pub sso_workspace_id: Option<String>,
    /// The provider's issuer, subject and session id (`sid`), for its
    /// back-channel logouts.
    pub idp: Option<IdpSession>,
}

/// The provider's side of a session signed in through OpenID Connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpSession {
    pub issuer: String,
    pub subject: String,
    pub sid: Option<String>,
}

impl SignedInWith {
    /// A password sign-in, now.
    pub fn password() -> Self {
        SignedInWith {
            amr: vec![wrnexus_policies::claims::AMR_PASSWORD.to_string()],
            auth_time: now(),
            sso_workspace_id: None,
            idp: None,
        }
    }

    /// The claims' form of `amr`.
    fn amr_column(&self) -> String {
        self.amr.join(",")
    }
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
    how: &SignedInWith,
) -> Result<Session, StoreError> {
    let version = work.version().await?;
    let id = new_id();
    let now = now();
    let expires_at = now.saturating_add(ttl_secs);
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, version, client_ip, \
         user_agent, last_seen_at, amr, auth_time, sso_workspace_id, idp_issuer, idp_subject, \
         idp_sid) VALUES ($1, $2, $3, $4, $5, $6, $7, $3, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .bind(version)
    .bind(meta.ip.as_deref())
    .bind(meta.user_agent.as_deref().map(cut_agent))
    .bind(how.amr_column())
    .bind(how.auth_time)
    .bind(how.sso_workspace_id.as_deref())
    .bind(how.idp.as_ref().map(|i| i.issuer.as_str()))
    .bind(how.idp.as_ref().map(|i| i.subject.as_str()))
    .bind(how.idp.as_ref().and_then(|i| i.sid.as_deref()))
    .execute(&mut *work.tx)
    .await?;
    work.push(
        EntryKey::session(user_id, &id),
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
        signed_in: how.clone(),
    })
}

/// Where a user's own session events go: `workspace_id` while they are a
/// member of it, else their personal workspace.
#[tracing::instrument(name = "store.own_workspace", skip_all)]
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
    #[tracing::instrument(name = "store.create_session", skip_all)]
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
    #[tracing::instrument(name = "store.start_session", skip_all)]
    pub async fn start_session(
        &self,
        user_id: &str,
        ttl_secs: i64,
        meta: &Meta,
    ) -> Result<Session, StoreError> {
        let mut work = self.work(Scope::user(user_id), meta).await?;
        let session = insert_session(
            &mut work,
            user_id,
            ttl_secs,
            meta,
            &SignedInWith::password(),
        )
        .await?;
        self.finish(work).await?;
        Ok(session)
    }

    /// Sign a user in to `workspace_id`: the session and its `signin` audit
    /// row (with `meta`'s actor, address, user agent and request id) are
    /// written together or not at all.
    #[tracing::instrument(name = "store.sign_in", skip_all)]
    pub async fn sign_in(
        &self,
        user_id: &str,
        workspace_id: &str,
        ttl_secs: i64,
        meta: &Meta,
    ) -> Result<Session, StoreError> {
        let how = SignedInWith::password();
        self.sign_in_with(user_id, workspace_id, ttl_secs, meta, &how)
            .await
    }

    /// [`Store::sign_in`], signed in as `how` says (the audit row names the
    /// method).
    #[tracing::instrument(name = "store.sign_in_with", skip_all)]
    pub async fn sign_in_with(
        &self,
        user_id: &str,
        workspace_id: &str,
        ttl_secs: i64,
        meta: &Meta,
        how: &SignedInWith,
    ) -> Result<Session, StoreError> {
        let meta = meta.with_actor(ActorKind::User, user_id);
        let mut work = self
            .work(Scope::member(workspace_id, user_id), &meta)
            .await?;
        let session = insert_session(&mut work, user_id, ttl_secs, &meta, how).await?;
        work.audit(
            AuditRecord::success(workspace_id, "signin", user_id)
                .with_detail(json!({ "session_id": session.id, "amr": how.amr })),
        )
        .await?;
        self.finish(work).await?;
        Ok(session)
    }

    #[tracing::instrument(name = "store.session", skip_all)]
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, created_at, expires_at, revoked_at, amr, auth_time, \
             sso_workspace_id, idp_issuer, idp_subject, idp_sid FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| -> Result<Session, StoreError> {
            let amr: String = r.try_get("amr")?;
            let issuer: Option<String> = r.try_get("idp_issuer")?;
            let subject: Option<String> = r.try_get("idp_subject")?;
            let idp = issuer.zip(subject).map(|(issuer, subject)| IdpSession {
                issuer,
                subject,
                sid: r.try_get("idp_sid").ok().flatten(),
            });
            let auth_time: Option<i64> = r.try_get("auth_time")?;
            Ok(Session {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                expires_at: r.try_get("expires_at")?,
                revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                signed_in: SignedInWith {
                    amr: amr
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect(),
                    auth_time: match auth_time {
                        Some(t) => t,
                        None => r.try_get("created_at")?,
                    },
                    sso_workspace_id: r.try_get("sso_workspace_id")?,
                    idp,
                },
            })
        })
        .transpose()
    }

    /// Sign out: revoke a session (every gateway refuses it from the next
    /// request on) and audit `session.signed_out` in the same transaction,
    /// in `workspace_id` (the session's current workspace) while its user
    /// is a member there, else in their personal workspace.
    #[tracing::instrument(name = "store.revoke_session", skip_all)]
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
            EntryKey::session(&user_id, id),
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

    #[tracing::instrument(name = "store.signing_keys", skip_all)]
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
    #[tracing::instrument(name = "store.insert_signing_key", skip_all)]
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
