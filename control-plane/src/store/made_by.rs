//! What a person made, and taking it back when they go: the API keys they
//! stand behind (created by them, or with one of their keys, at any depth)
//! and the invitations they or their keys sent. Everything here runs inside
//! the caller's unit of work, so it commits with the departure or not at all.

use super::api_key_row::{COLUMNS, key_from_row};
use super::audit::{ActorKind, AuditRecord, Meta};
use super::membership::membership_in;
use super::work::Work;
use super::workspaces::parse;
use super::{StoreError, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{EntryKey, Role};

/// What went with a person, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// The API keys revoked: every gateway refuses them from now on.
    pub api_keys: Vec<String>,
    /// The pending invitations withdrawn (on removal from a workspace, or
    /// in every workspace on a disable).
    pub invitations: Vec<String>,
}

/// A member removed (or who left), and what went with them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Removal {
    pub user_id: String,
    /// The role they had.
    pub role: Role,
    /// Whether they removed themselves.
    pub left: bool,
    pub revoked: Revoked,
}

/// Every session of a user ended and their keys revoked, at once ("sign
/// out everywhere", or an operator disabling them).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Ended {
    pub user_id: String,
    /// How many live sessions ended.
    pub sessions: usize,
    pub revoked: Revoked,
}

/// Why a person's keys or invitations went, as their audit rows say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    Removed,
    SignedOutEverywhere,
    Disabled,
    Demoted,
}

impl Why {
    /// The reason on a key's row.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Why::Removed => "creator removed",
            Why::SignedOutEverywhere => "creator signed out everywhere",
            Why::Disabled => "creator disabled",
            Why::Demoted => "creator demoted",
        }
    }

    /// The reason on an invitation's row.
    fn inviter(self) -> &'static str {
        match self {
            Why::Removed => "inviter removed",
            Why::SignedOutEverywhere => "inviter signed out everywhere",
            Why::Disabled => "inviter disabled",
            Why::Demoted => "inviter demoted",
        }
    }
}

/// Lock a user's row until the unit of work ends, so that making a key for
/// them and taking back everything of theirs run one after the other.
/// Whether they are disabled; `None` for an unknown user.
#[tracing::instrument(name = "store.lock_person", skip_all)]
pub(crate) async fn lock_person(
    work: &mut Work,
    user_id: &str,
) -> Result<Option<bool>, StoreError> {
    let disabled: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE users SET version = version WHERE id = $1 RETURNING disabled_at",
    )
    .bind(user_id)
    .fetch_optional(&mut *work.tx)
    .await?;
    Ok(disabled.map(|at| at.is_some()))
}

/// Who stands behind a key being created, as read under the locks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Behind {
    /// The person (see [`person_behind`]).
    pub person: Option<String>,
    /// The strongest ceiling the new key may have: the person's role here,
    /// and no more than the acting key's own ceiling. `None`: not bounded
    /// here (an operator, the system, a key with no person is bounded by
    /// its ceiling only).
    pub bound: Option<Role>,
}

/// The person behind a key `meta`'s actor is creating in `workspace_id`: a
/// user is their own; a key passes on its own person (`None` for a key made
/// before people were recorded, by an operator, or by the system). Call
/// with the workspace locked. The person is locked first (after the
/// workspace: the order every taker of both keeps), and only then are the
/// acting key and session read, so that "sign out everywhere" or a disable
/// either commits before (and this refuses: the key was revoked, the
/// session ended, the person left or was disabled) or waits for the new key
/// and takes it too.
#[tracing::instrument(name = "store.person_behind", skip_all)]
pub(crate) async fn person_behind(
    work: &mut Work,
    meta: &Meta,
    workspace_id: &str,
) -> Result<Behind, StoreError> {
    let acting_key = match (meta.actor_kind, meta.actor_id.as_deref()) {
        (ActorKind::ApiKey, Some(key_id)) => Some(key_id),
        _ => None,
    };
    let person: Option<String> = match (meta.actor_kind, meta.actor_id.as_deref()) {
        (ActorKind::User, Some(user_id)) => Some(user_id.to_string()),
        // A key's person never changes: safe to read before the lock.
        (ActorKind::ApiKey, Some(key_id)) => {
            let person: Option<Option<String>> = sqlx::query_scalar(
                "SELECT created_by_user FROM api_keys WHERE workspace_id = $1 AND id = $2",
            )
            .bind(workspace_id)
            .bind(key_id)
            .fetch_optional(&mut *work.tx)
            .await?;
            person.ok_or(StoreError::NotFound { what: "api key" })?
        }
        _ => None,
    };
    if let Some(user_id) = &person
        && lock_person(work, user_id).await? != Some(false)
    {
        return Err(StoreError::conflict(
            ProblemCode::UserDisabled.as_str(),
            "the person behind this request has been disabled",
        ));
    }
    let mut bound = None;
    if let Some(key_id) = acting_key {
        bound = Some(live_key_ceiling(work, workspace_id, key_id).await?);
    }
    if let (Some(user_id), Some(session_id)) = (&person, meta.session_id.as_deref())
        && meta.actor_kind == ActorKind::User
    {
        live_session(work, user_id, session_id).await?;
    }
    let Some(user_id) = person else {
        return Ok(Behind {
            person: None,
            bound,
        });
    };
    let Some(membership) = membership_in(work, workspace_id, &user_id).await? else {
        return Err(StoreError::NotFound { what: "workspace" });
    };
    // Roles order strongest first: the weaker of the two is the greater.
    let bound = Some(bound.map_or(membership.role, |b| b.max(membership.role)));
    Ok(Behind {
        person: Some(user_id),
        bound,
    })
}

/// The ceiling of the acting key as it stands; refuses a revoked key.
async fn live_key_ceiling(
    work: &mut Work,
    workspace_id: &str,
    key_id: &str,
) -> Result<Role, StoreError> {
    let row = sqlx::query(
        "SELECT role_ceiling, revoked_at FROM api_keys WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(key_id)
    .fetch_optional(&mut *work.tx)
    .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound { what: "api key" });
    };
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Err(StoreError::conflict(
            ProblemCode::ApiKeyRevoked.as_str(),
            "the key making this request has been revoked",
        ));
    }
    Ok(parse(row.try_get("role_ceiling")?)?)
}

/// Refuses unless `session_id` is a live session of `user_id`.
async fn live_session(work: &mut Work, user_id: &str, session_id: &str) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT user_id, expires_at, revoked_at FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(&mut *work.tx)
        .await?;
    let live = match row {
        Some(r) => {
            r.try_get::<String, _>("user_id")? == user_id
                && r.try_get::<i64, _>("expires_at")? > now()
                && r.try_get::<Option<i64>, _>("revoked_at")?.is_none()
        }
        None => false,
    };
    if live {
        Ok(())
    } else {
        Err(StoreError::conflict(
            ProblemCode::SessionEnded.as_str(),
            "the session making this request has ended",
        ))
    }
}

/// Revoke every live key behind `user_id` (in `workspace_id` only, or in
/// every workspace): each is audited in its own workspace with `why`,
/// announced to webhooks and pushed to gateways. Their ids, sorted.
#[tracing::instrument(name = "store.revoke_keys", skip_all)]
pub(crate) async fn revoke_keys(
    work: &mut Work,
    user_id: &str,
    workspace_id: Option<&str>,
    why: Why,
) -> Result<Vec<String>, StoreError> {
    let version = work.version().await?;
    let only_here = if workspace_id.is_some() {
        " AND workspace_id = $4"
    } else {
        ""
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE api_keys SET revoked_at = $1, version = $2 \
         WHERE created_by_user = $3 AND revoked_at IS NULL{only_here} RETURNING {COLUMNS}"
    )))
    .bind(now())
    .bind(version)
    .bind(user_id);
    if let Some(id) = workspace_id {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&mut *work.tx).await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = key_from_row(row)?;
        work.audit(
            AuditRecord::success(&key.workspace_id, "api_key.revoked", &key.id)
                .with_detail(json!({ "reason": why.as_str(), "user_id": user_id })),
        )
        .await?;
        work.emit(
            &key.workspace_id,
            "api_key.revoked",
            json!({ "api_key": &key }),
        )
        .await?;
        work.push(
            EntryKey::ApiKey(key.id.clone()),
            key.entry(row.try_get("secret_hash")?, true),
        )
        .await?;
        ids.push(key.id);
    }
    ids.sort();
    Ok(ids)
}

/// Withdraw the pending invitations sent by `user_id` or with a key
/// behind them, in `workspace_id` (or in every workspace), only those
/// inviting to a role stronger than `above` when given; each is audited in
/// its workspace with `why`. Their ids, sorted.
#[tracing::instrument(name = "store.withdraw_invitations", skip_all)]
pub(crate) async fn withdraw_invitations(
    work: &mut Work,
    workspace_id: Option<&str>,
    user_id: &str,
    above: Option<Role>,
    why: Why,
) -> Result<Vec<String>, StoreError> {
    let stronger: Vec<Role> = match above {
        Some(role) => Role::ALL.into_iter().filter(|r| *r < role).collect(),
        None => Role::ALL.to_vec(),
    };
    if stronger.is_empty() {
        return Ok(Vec::new());
    }
    // $1 time, $2 and $3 the person, $4 and $5 the workspace, then the roles
    // (numbered in the order they appear, as SQLite wants).
    let (here, keys_here, first_role) = match workspace_id {
        Some(_) => (" AND workspace_id = $5", " AND workspace_id = $4", 6),
        None => ("", "", 4),
    };
    let roles = (first_role..first_role + stronger.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE invitations SET revoked_at = $1 \
         WHERE accepted_at IS NULL AND revoked_at IS NULL \
         AND (invited_by = $2 OR invited_by IN \
              (SELECT id FROM api_keys WHERE created_by_user = $3{keys_here})){here} \
         AND role IN ({roles}) RETURNING id, workspace_id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now())
        .bind(user_id)
        .bind(user_id);
    if let Some(id) = workspace_id {
        query = query.bind(id).bind(id);
    }
    for role in &stronger {
        query = query.bind(role.as_str());
    }
    let rows = query.fetch_all(&mut *work.tx).await?;
    let mut withdrawn = rows
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("workspace_id")?)))
        .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
    withdrawn.sort();
    for (id, workspace) in &withdrawn {
        work.audit(
            AuditRecord::success(workspace, "invitation.revoked", id)
                .with_detail(json!({ "reason": why.inviter(), "user_id": user_id })),
        )
        .await?;
    }
    Ok(withdrawn.into_iter().map(|(id, _)| id).collect())
}
