//! Whether row-level security can hold for the service connection: on
//! Postgres, a superuser, a role with BYPASSRLS or the owner of the tenant
//! tables is not bound by it (an owner may turn it off), so the control
//! plane says so loudly at start.

use super::{Backend, Store, StoreError};
use sqlx::Row;

/// Why the service connection's role could escape row-level security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsolationRisk {
    Superuser {
        role: String,
    },
    BypassRls {
        role: String,
    },
    /// The role owns (or is a member of the owner of) these RLS tables.
    OwnsTables {
        role: String,
        tables: Vec<String>,
    },
}

impl std::fmt::Display for IsolationRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IsolationRisk::Superuser { role } => write!(f, "role `{role}` is a superuser"),
            IsolationRisk::BypassRls { role } => write!(f, "role `{role}` has BYPASSRLS"),
            IsolationRisk::OwnsTables { role, tables } => write!(
                f,
                "role `{role}` owns the tenant tables ({})",
                tables.join(", ")
            ),
        }
    }
}

impl Store {
    /// What lets this connection's role escape row-level security; empty on
    /// SQLite and for a proper service role.
    pub async fn isolation_risks(&self) -> Result<Vec<IsolationRisk>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(Vec::new());
        }
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(
            "SELECT current_user::text AS role, rolsuper::int AS superuser, \
             rolbypassrls::int AS bypass FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *conn)
        .await?;
        let role: String = row.try_get("role")?;
        let mut risks = Vec::new();
        if row.try_get::<i32, _>("superuser")? != 0 {
            risks.push(IsolationRisk::Superuser { role: role.clone() });
        }
        if row.try_get::<i32, _>("bypass")? != 0 {
            risks.push(IsolationRisk::BypassRls { role: role.clone() });
        }
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relrowsecurity \
             AND pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY c.relname",
        )
        .fetch_all(&mut *conn)
        .await?;
        if !tables.is_empty() {
            risks.push(IsolationRisk::OwnsTables { role, tables });
        }
        Ok(risks)
    }

    /// Log a loud warning for each [`IsolationRisk`] (never refuses to start:
    /// the embedded and development setups connect as `postgres`).
    pub async fn warn_about_isolation(&self) {
        match self.isolation_risks().await {
            Ok(risks) => {
                for risk in risks {
                    tracing::warn!(
                        risk = %risk,
                        "row-level security does not bind the control plane's database role: \
                         run the service as a login role that is only a member of `wrnexus_app`, \
                         and migrate as the owner (`migrate_database_url`, or `wrnexus migrate`); \
                         see the README's isolation section"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not check the database role's isolation"),
        }
    }
}
