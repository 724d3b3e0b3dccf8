//! The domain re-check worker: claims the domains due a check (verified ones
//! every `domain_recheck_interval`, pending ones more often), looks up their
//! records and records the outcome. A verified domain whose record has
//! been gone for several checks in a row becomes unverified. A claim never
//! verified within seven days of being added is removed (audited and
//! emitted `sso.domain.removed` by the system). Several control planes
//! share the work safely (claims in the database).

use super::dns::{CheckFailure, QUERY_TIMEOUT, TxtChecker};
use crate::config::SsoConfig;
use crate::store::audit::Meta;
use crate::store::sso_domain_checks::{CheckChange, CheckOutcome, DueDomain, PENDING_TTL_SECS};
use crate::store::{Store, StoreError, now};
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Domains claimed per pass.
const BATCH: i64 = 16;
/// How often the worker looks for due domains.
const POLL: Duration = Duration::from_secs(30);
/// Longest wait between checks of a pending domain.
const PENDING_INTERVAL: Duration = Duration::from_secs(3600);

/// What a check found, as the store records it.
pub fn outcome(checked: Result<(), CheckFailure>) -> CheckOutcome {
    match checked {
        Ok(()) => CheckOutcome::Found,
        Err(f) if f.is_definite() => CheckOutcome::Missing(f.to_string()),
        Err(f) => CheckOutcome::Failed(f.to_string()),
    }
}

/// Re-checks domains. One per control plane.
pub struct DomainWorker {
    store: Store,
    checker: TxtChecker,
    interval: Duration,
    poll: Duration,
}

impl DomainWorker {
    pub fn new(store: Store, config: &SsoConfig) -> Result<Self, super::dns::DnsSetupError> {
        Ok(DomainWorker {
            store,
            checker: TxtChecker::new(config.dns_resolver, QUERY_TIMEOUT)?,
            interval: config.domain_recheck_interval,
            poll: POLL.min(config.domain_recheck_interval.max(Duration::from_secs(1))),
        })
    }

    /// Run on the current runtime until `shutdown` resolves.
    pub fn spawn(self, shutdown: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tokio::pin!(shutdown);
        tracing::info!(interval = ?self.interval, "domain re-check worker started");
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "domain re-check: a pass failed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.poll) => {}
            }
        }
        tracing::info!("domain re-check worker stopped");
    }

    /// One pass: expired claims removed, then every domain due now
    /// checked. Returns how many were checked.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let at = now();
        loop {
            let expiring = self
                .store
                .expire_pending_sso_domains(
                    at.saturating_sub(PENDING_TTL_SECS),
                    BATCH,
                    &Meta::system(),
                )
                .await;
            // Failing to expire must not stop the checks: next pass.
            let expired = match expiring {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "expiring pending domain claims failed");
                    break;
                }
            };
            if expired > 0 {
                tracing::info!(expired, "pending domain claims expired");
            }
            if expired < usize::try_from(BATCH).unwrap_or(usize::MAX) {
                break;
            }
        }
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let verified_before = at.saturating_sub(secs(self.interval));
        let pending_before = at.saturating_sub(secs(self.interval.min(PENDING_INTERVAL)));
        let mut checked = 0;
        loop {
            let due = self
                .store
                .claim_due_sso_domains(verified_before, pending_before, BATCH)
                .await?;
            if due.is_empty() {
                return Ok(checked);
            }
            for domain in due {
                checked += 1;
                self.check(&domain).await;
            }
        }
    }

    /// Check one claimed domain and record what was found; a failure to
    /// record is logged (the domain comes round again).
    async fn check(&self, due: &DueDomain) {
        let found = outcome(self.checker.check(&due.domain, &due.token).await);
        let recorded = self
            .store
            .record_sso_domain_check(&due.workspace_id, &due.id, &found, &Meta::system())
            .await;
        match recorded {
            Ok((_, CheckChange::Verified)) => tracing::info!(
                domain_id = %due.id, workspace_id = %due.workspace_id, domain = %due.domain,
                "domain verified"
            ),
            Ok((_, CheckChange::Unverified)) => tracing::warn!(
                domain_id = %due.id, workspace_id = %due.workspace_id, domain = %due.domain,
                "domain unverified: its record has been missing for several checks"
            ),
            Ok((_, CheckChange::None)) => {}
            Err(StoreError::Conflict { .. }) => tracing::info!(
                domain_id = %due.id, domain = %due.domain,
                "domain not verified: another workspace has verified it"
            ),
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => tracing::warn!(
                domain_id = %due.id, error = %e, "recording a domain check failed"
            ),
        }
    }
}
