//! Provider identities linked to users: reading the facts the linking
//! rules decide on (see [`crate::sso::linking`]), and doing what they
//! decided — linking, making the account, and the just-in-time membership
//! of a workspace whose connection the person signed in through.

use super::accounts::User;
use super::audit::{AuditRecord, Meta};
use super::made_by::{Why, revoke_keys};
use super::membership::membership_in;
use super::revocation::revoke_sessions_except;
use super::sso_connections::Connection;
use super::work::{Scope, Work};
use super::{Store, StoreError, is_unique_violation, now};
use crate::sso::linking::{self, Account, Decision, Facts, Via};
use serde_json::json;
use wrnexus_policies::{Entry, EntryKey, Role};

/// The password hash of an account made through a provider: no PHC string,
/// so no password ever matches it (the person can set one by a reset).
pub const NO_PASSWORD: &str = "!sso";

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    pub issuer: String,
    pub subject: String,
    /// As the provider gave it; normalised (trimmed, lowercased) here.
    pub email: Option<String>,
    pub email_verified: bool,
}

/// Who signed in, and what changed on the way.
#[derive(Debug, Clone)]
pub struct Linked {
    pub user: User,
    /// The account was made now.
    pub created: bool,
    /// Joined the connection's workspace now, with this role.
    pub joined: Option<Role>,
}

fn refused(refusal: linking::Refusal) -> StoreError {
    StoreError::Forbidden {
        code: refusal.code().as_str(),
        message: refusal.to_string(),
    }
}

fn account(user: &User) -> Account {
    Account {
        user_id: user.id.clone(),
        disabled: user.disabled,
    }
}

/// Link `(issuer, subject)` to `user_id` inside `work` (a concurrent
/// sign-in of the same identity may have linked it first: fine).
async fn link(
    work: &mut Work,
    who: &ProviderIdentity,
    user_id: &str,
    email: Option<&str>,
) -> Result<(), StoreError> {
    let at = now();
    let inserted = sqlx::query(
        "INSERT INTO sso_identities (issuer, subject, user_id, email, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&who.issuer)
    .bind(&who.subject)
    .bind(user_id)
    .bind(email)
    .bind(at)
    .execute(&mut *work.tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(StoreError::conflict(
            wrnexus_contract::ProblemCode::SsoFailed.as_str(),
            "this identity was linked to an account meanwhile: sign in again",
        )),
        other => other.map(|_| ()).map_err(StoreError::from),
    }
}

/// Mark the email verified and push the user's entry.
async fn verify_email(work: &mut Work, user_id: &str) -> Result<(), StoreError> {
    let version = work.version().await?;
    sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), version = $2 \
         WHERE id = $3",
    )
    .bind(now())
    .bind(version)
    .bind(user_id)
    .execute(&mut *work.tx)
    .await?;
    work.push(
        EntryKey::User(user_id.to_string()),
        Entry::User {
            disabled: false,
            email_verified: true,
        },
    )
    .await
}

/// An unverified account taken over by the person the workspace's proven
/// domain vouches for (`kept`, just linked): whoever made it without
/// proving the address loses its password, its other provider identities
/// (linked before the domain was proven, e.g. through another workspace's
/// connection that only listed the domain as allowed), its sessions and
/// its keys (as a password reset does).
async fn take_over_unverified(
    work: &mut Work,
    user_id: &str,
    kept: &ProviderIdentity,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(NO_PASSWORD)
        .bind(user_id)
        .execute(&mut *work.tx)
        .await?;
    sqlx::query(
        "DELETE FROM sso_identities WHERE user_id = $1 AND NOT (issuer = $2 AND subject = $3)",
    )
    .bind(user_id)
    .bind(&kept.issuer)
    .bind(&kept.subject)
    .execute(&mut *work.tx)
    .await?;
    revoke_sessions_except(work, user_id, None).await?;
    revoke_keys(work, user_id, None, Why::SignedOutEverywhere).await?;
    Ok(())
}

/// Make `user_id` a member of the connection's workspace with its default
/// role, unless they are one (`sso.member.joined`, audited and emitted).
async fn join(
    work: &mut Work,
    connection: &Connection,
    user: &User,
    allowed: Result<(), linking::Refusal>,
) -> Result<Option<Role>, StoreError> {
    let workspace_id = connection.workspace_id.as_str();
    work.scope(Scope::member(workspace_id, &user.id)).await?;
    if membership_in(work, workspace_id, &user.id).await?.is_some() {
        return Ok(None);
    }
    if let Err(refusal) = allowed {
        return Err(refused(refusal));
    }
    super::workspaces::lock_workspace(work, workspace_id).await?;
    let version = work.version().await?;
    let role = connection.default_role;
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at, version) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(workspace_id)
    .bind(&user.id)
    .bind(role.as_str())
    .bind(now())
    .bind(version)
    .execute(&mut *work.tx)
    .await?;
    let facts = json!({
        "user_id": user.id,
        "email": user.email,
        "role": role,
        "connection_id": connection.id,
    });
    work.audit(
        AuditRecord::success(workspace_id, "sso.member.joined", &user.id)
            .with_detail(facts.clone()),
    )
    .await?;
    work.emit(workspace_id, "sso.member.joined", facts).await?;
    work.push(
        EntryKey::membership(workspace_id, &user.id),
        Entry::Membership {
            role: Some(role),
            projects: None,
        },
    )
    .await?;
    Ok(Some(role))
}

impl Store {
    /// The facts the linking rules decide on.
    async fn linking_facts(
        &self,
        who: &ProviderIdentity,
        email: Option<&str>,
        connection: Option<&Connection>,
    ) -> Result<(Facts, Option<User>), StoreError> {
        let linked_id: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(&who.issuer)
        .bind(&who.subject)
        .fetch_optional(self.pool())
        .await?;
        let linked = match linked_id {
            Some(id) => self.user(&id).await?,
            None => None,
        };
        let by_email = match email {
            Some(email) if linked.is_none() => self.user_by_email(email).await?,
            _ => None,
        };
        let via = match connection {
            Some(c) => {
                let domain = email.and_then(linking::email_domain).unwrap_or_default();
                let mut tx = self.read(Scope::workspace(&c.workspace_id)).await?;
                let verified: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM sso_domains WHERE workspace_id = $1 AND domain = $2 \
                     AND verified_at IS NOT NULL",
                )
                .bind(&c.workspace_id)
                .bind(&domain)
                .fetch_optional(&mut *tx)
                .await?;
                Via::Workspace {
                    domain_verified: verified.is_some(),
                    domain_allowed: c
                        .allowed_domains
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(&domain)),
                }
            }
            None => Via::Instance,
        };
        let facts = Facts {
            via,
            linked: linked.as_ref().map(account),
            email: email.map(str::to_string),
            email_verified: who.email_verified,
            by_email: by_email.as_ref().map(account),
        };
        Ok((facts, linked.or(by_email)))
    }

    /// Sign-in through a provider: who it is (see [`crate::sso::linking`]),
    /// linked, made and joined as decided. `connection` is the workspace
    /// connection it came through; `None` for an instance-wide provider.
    #[tracing::instrument(name = "store.sso_link", skip_all)]
    pub async fn sso_link(
        &self,
        who: &ProviderIdentity,
        connection: Option<&Connection>,
        meta: &Meta,
    ) -> Result<Linked, StoreError> {
        let email = who
            .email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        let (facts, known) = self
            .linking_facts(who, email.as_deref(), connection)
            .await?;
        let (user, created, link_now) = match linking::decide(&facts) {
            Decision::Refuse(refusal) => return Err(refused(refusal)),
            Decision::SignIn(_) | Decision::Link(_) => {
                let user = known.ok_or(StoreError::NotFound { what: "user" })?;
                let link_now = facts.linked.is_none();
                (user, false, link_now)
            }
            Decision::Create { email, verified } => {
                let made = self.sign_up(&email, NO_PASSWORD, meta).await?;
                let mut user = made.user;
                user.email_verified = verified;
                (user, true, true)
            }
        };
        let meta = meta.with_actor(super::audit::ActorKind::User, &user.id);
        let mut work = self.work(Scope::user(&user.id), &meta).await?;
        if link_now {
            link(&mut work, who, &user.id, email.as_deref()).await?;
            // Linked by a domain the workspace proved: the address is the
            // person's; an account under it whose address WRNexus never
            // verified (by its mail link, or by a proven domain at sign-up)
            // was someone else's. A verified one is linked, nothing else
            // changes.
            if !created && !user.email_verified {
                work.scope(Scope::system()).await?;
                take_over_unverified(&mut work, &user.id, who).await?;
            }
            // A new account a proven domain (or an instance provider)
            // vouches for, or an existing one the proven domain vouches for.
            let vouched = if created {
                user.email_verified
            } else {
                !user.email_verified
            };
            if vouched {
                verify_email(&mut work, &user.id).await?;
            }
        } else {
            sqlx::query(
                "UPDATE sso_identities SET last_used_at = $1 WHERE issuer = $2 AND subject = $3",
            )
            .bind(now())
            .bind(&who.issuer)
            .bind(&who.subject)
            .execute(&mut *work.tx)
            .await?;
        }
        let joined = match connection {
            Some(c) => join(&mut work, c, &user, linking::may_join(&facts)).await?,
            None => None,
        };
        self.finish(work).await?;
        let user = self.user(&user.id).await?.unwrap_or(user);
        Ok(Linked {
            user,
            created,
            joined,
        })
    }
}

#[cfg(test)]
#[path = "sso_identities_tests.rs"]
mod tests;
