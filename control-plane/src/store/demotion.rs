//! A role going down takes the person's reach down with it: the API keys
//! behind them in that workspace (see [`super::made_by`]) keep no ceiling
//! above their new role, and their pending invitations to a stronger role
//! are withdrawn. Runs inside the unit of work that writes the role, so the
//! key entries are pushed to gateways, like revocations, once it commits.

use super::StoreError;
use super::api_key_row::{ApiKey, COLUMNS, key_from_row};
use super::audit::AuditRecord;
use super::made_by::{Why, lock_person, withdraw_invitations};
use super::work::Work;
use serde_json::json;
use sqlx::Row;
use wrnexus_policies::{EntryKey, Role};

/// What a demotion lowered, by id, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lowered {
    /// The keys whose ceiling came down to the new role.
    pub api_keys: Vec<String>,
    /// The pending invitations to a role above the new one, withdrawn.
    pub invitations: Vec<String>,
}

/// `user_id` now has `role` in `workspace_id` (a weaker one than before):
/// lower the live keys behind them there and withdraw their invitations
/// above it. Call with the workspace locked; the person is locked after it.
#[tracing::instrument(name = "store.follow_demotion", skip_all)]
pub(crate) async fn follow_demotion(
    work: &mut Work,
    workspace_id: &str,
    user_id: &str,
    role: Role,
) -> Result<Lowered, StoreError> {
    lock_person(work, user_id).await?;
    let api_keys = lower_keys(work, workspace_id, user_id, role).await?;
    let invitations =
        withdraw_invitations(work, Some(workspace_id), user_id, Some(role), Why::Demoted).await?;
    Ok(Lowered {
        api_keys,
        invitations,
    })
}

/// Bring every live key of `workspace_id` behind `user_id` with a ceiling
/// above `role` down to `role`: each audited (`api_key.ceiling_lowered`)
/// and its entry pushed. Their ids, sorted.
async fn lower_keys(
    work: &mut Work,
    workspace_id: &str,
    user_id: &str,
    role: Role,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys \
         WHERE workspace_id = $1 AND created_by_user = $2 AND revoked_at IS NULL ORDER BY id"
    )))
    .bind(workspace_id)
    .bind(user_id)
    .fetch_all(&mut *work.tx)
    .await?;
    let mut ids = Vec::new();
    for row in &rows {
        let key = key_from_row(row)?;
        // Roles order strongest first.
        if key.role_ceiling >= role {
            continue;
        }
        let version = work.version().await?;
        sqlx::query(
            "UPDATE api_keys SET role_ceiling = $1, version = $2 \
             WHERE workspace_id = $3 AND id = $4",
        )
        .bind(role.as_str())
        .bind(version)
        .bind(workspace_id)
        .bind(&key.id)
        .execute(&mut *work.tx)
        .await?;
        work.audit(
            AuditRecord::success(workspace_id, "api_key.ceiling_lowered", &key.id).with_detail(
                json!({
                    "reason": Why::Demoted.as_str(),
                    "user_id": user_id,
                    "from": key.role_ceiling,
                    "to": role,
                }),
            ),
        )
        .await?;
        let lowered = ApiKey {
            role_ceiling: role,
            ..key.clone()
        };
        work.push(
            EntryKey::ApiKey(key.id.clone()),
            lowered.entry(row.try_get("secret_hash")?, false),
        )
        .await?;
        ids.push(key.id);
    }
    Ok(ids)
}
