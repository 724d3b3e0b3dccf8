//! Whether row-level security can hold for the service connection: on
//! Postgres, a superuser, a role with BYPASSRLS or the owner of the tenant
//! tables is not bound by it (an owner may turn it off), and nobody is when
//! it has been turned off on a tenant table, so the control plane refuses
//! to start then unless the operator allows it.

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
    /// These tables have tenant policies but row-level security is off
    /// (`ALTER TABLE … DISABLE ROW LEVEL SECURITY`): no role is bound.
    Disabled {
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
            IsolationRisk::Disabled { tables } => write!(
                f,
                "row-level security is turned off on the tenant tables ({}): turn it back on \
                 with `ALTER TABLE … ENABLE ROW LEVEL SECURITY` (the migrations set it)",
                tables.join(", ")
            ),
        }
    }
}

/// How to run with row-level security in force.
const FIX: &str = "connect `database_url` as the service role, a login role that is only a \
    member of `wrnexus_app` (e.g. `CREATE ROLE wrnexus_service LOGIN PASSWORD '…' IN ROLE \
    wrnexus_app`: no SUPERUSER, no BYPASSRLS, not the tables' owner), and run the migrations \
    as the owner (`migrate_database_url`, or `wrnexus migrate` with the owner's url); for a \
    quick trial only, set `allow_rls_bypass = true` in [control_plane] \
    (WRNEXUS_CONTROL_PLANE__ALLOW_RLS_BYPASS=true)";

/// The control plane will not run on a role that escapes row-level security.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error(
        "row-level security would not bind the control plane's database role: {}; {FIX}",
        risks.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Bypassed { risks: Vec<IsolationRisk> },
    #[error("checking the database role for row-level security: {0}")]
    Check(#[from] StoreError),
}

impl Store {
    /// What lets this connection's role escape row-level security; empty on
    /// SQLite and for a proper service role.
    #[tracing::instrument(name = "store.isolation_risks", skip_all)]
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
        // Policies stay when row-level security is switched off: a table
        // that has them but is not protected was turned off by someone.
        let disabled: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT c.relname::text FROM pg_policies p \
             JOIN pg_namespace n ON n.nspname = p.schemaname \
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename \
             WHERE p.schemaname = current_schema() AND NOT c.relrowsecurity ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        if !disabled.is_empty() {
            risks.push(IsolationRisk::Disabled { tables: disabled });
        }
        Ok(risks)
    }

    /// Refuse a role that row-level security does not bind, unless the
    /// operator said `allow_rls_bypass` (then each risk is logged loudly).
    #[tracing::instrument(name = "store.require_isolation", skip_all)]
    pub async fn require_isolation(&self, allow_bypass: bool) -> Result<(), IsolationError> {
        let risks = self.isolation_risks().await?;
        if risks.is_empty() {
            return Ok(());
        }
        if !allow_bypass {
            return Err(IsolationError::Bypassed { risks });
        }
        for risk in risks {
            tracing::warn!(
                risk = %risk,
                "row-level security does not bind the control plane's database role; \
                 started anyway because `allow_rls_bypass` is set: tenant isolation rests on \
                 the queries alone"
            );
        }
        Ok(())
    }
}
