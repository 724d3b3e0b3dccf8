//! Logouts an identity provider sends (OpenID Connect Back-Channel Logout):
//! every live session signed in through that provider with the provider
//! session (`sid`) — or, without one, the subject — the logout names ends,
//! pushed to every gateway like any revocation, and audited.

use super::audit::{AuditRecord, Meta};
use super::revocation::personal_workspace;
use super::work::Scope;
use super::{Store, StoreError, now};
use serde_json::json;
use sqlx::Row;
use wrnexus_policies::{Entry, EntryKey};

/// What a verified logout token names.
#[derive(Debug, Clone)]
pub struct IdpLogout {
    pub issuer: String,
    pub sid: Option<String>,
    pub subject: Option<String>,
    /// The workspace whose connection received it; `None` for an
    /// instance-wide provider. Only sessions signed in through that door
    /// end.
    pub workspace_id: Option<String>,
    /// The connection id or the instance provider's name, for the record.
    pub source: String,
}

impl Store {
    /// End the sessions `logout` names; how many ended.
    #[tracing::instrument(name = "store.idp_logout", skip_all)]
    pub async fn idp_logout(&self, logout: &IdpLogout, meta: &Meta) -> Result<usize, StoreError> {
        let mut work = self.work(Scope::system(), meta).await?;
        let version = work.version().await?;
        // `sid` when given (and the subject with it when given too); the
        // subject alone otherwise. Empty strings match nothing stored.
        let (by_sid, sid) = match &logout.sid {
            Some(sid) => (1i64, sid.as_str()),
            None => (0, ""),
        };
        let rows = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, version = $2 \
             WHERE revoked_at IS NULL AND idp_issuer = $3 \
             AND (($4 = 1 AND idp_sid = $5) OR ($4 = 0 AND idp_subject = $6)) \
             AND ($6 = '' OR idp_subject = $6) \
             AND (($7 = '' AND sso_workspace_id IS NULL) OR sso_workspace_id = $7) \
             RETURNING id, user_id",
        )
        .bind(now())
        .bind(version)
        .bind(&logout.issuer)
        .bind(by_sid)
        .bind(sid)
        .bind(logout.subject.as_deref().unwrap_or(""))
        .bind(logout.workspace_id.as_deref().unwrap_or(""))
        .fetch_all(&mut *work.tx)
        .await?;
        let mut ended = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let user_id: String = row.try_get("user_id")?;
            work.push(
                EntryKey::session(&user_id, &id),
                Entry::Session {
                    user_id: user_id.clone(),
                    revoked: true,
                },
            )
            .await?;
            ended.push((id, user_id));
        }
        let session_ids: Vec<&str> = ended.iter().map(|(id, _)| id.as_str()).collect();
        let facts = json!({
            "issuer": logout.issuer,
            "sid": logout.sid,
            "subject": logout.subject,
            "source": logout.source,
            "sessions_ended": session_ids,
        });
        match &logout.workspace_id {
            Some(workspace_id) => {
                work.audit(
                    AuditRecord::success(workspace_id, "sso.logout", &logout.source)
                        .with_detail(facts.clone()),
                )
                .await?;
                work.emit(workspace_id, "sso.logout", facts).await?;
            }
            None => {
                // Each person's own record, in their personal workspace.
                let mut users: Vec<&str> = ended.iter().map(|(_, u)| u.as_str()).collect();
                users.sort_unstable();
                users.dedup();
                for user_id in users {
                    if let Some(personal) = personal_workspace(&mut work, user_id).await? {
                        work.audit(
                            AuditRecord::success(&personal, "sso.logout", user_id)
                                .with_detail(facts.clone()),
                        )
                        .await?;
                    }
                }
            }
        }
        self.finish(work).await?;
        Ok(ended.len())
    }
}
