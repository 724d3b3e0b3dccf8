//! Whether the database answers: the control plane's health check asks
//! it a trivial question, bounded in time.

use super::{Store, StoreError};
use std::time::Duration;

/// How long the database may take to answer a health check.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

impl Store {
    /// `SELECT 1` within [`HEALTH_TIMEOUT`].
    #[tracing::instrument(name = "store.ping", skip_all)]
    pub async fn ping(&self) -> Result<(), StoreError> {
        let query = sqlx::query("SELECT 1").fetch_one(self.pool());
        match tokio::time::timeout(HEALTH_TIMEOUT, query).await {
            Ok(answer) => answer.map(drop).map_err(StoreError::from),
            Err(_) => Err(StoreError::from(sqlx::Error::PoolTimedOut)),
        }
    }
}
