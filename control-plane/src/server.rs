//! Building and serving the control plane.

use crate::api::limits::Limiters;
use crate::api::{AppState, app};
use crate::billing::stripe_api::StripeApi;
use crate::billing::worker::BillingWorker;
use crate::config::ControlPlaneConfig;
use crate::mail::transport::Mailer;
use crate::mail::worker::MailWorker;
use crate::push::Pusher;
use crate::sso::domain_worker::DomainWorker;
use crate::sso::state::SsoState;
use crate::store::Store;
use crate::tokens::Keys;
use crate::webhook_worker::WebhookWorker;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use wrnexus_policies::Invalidation;

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    // Not `#[from]`: the message says it all, and an error chain printed
    // whole would repeat it.
    #[error("database: {0}")]
    Store(crate::store::StoreError),
    #[error(transparent)]
    Isolation(#[from] crate::store::isolation::IsolationError),
    #[error("[control_plane] `{key}`: {0}", key = .0.key())]
    Redis(wrnexus_backends::RedisSetupError),
    #[error("signing keys: {0}")]
    Keys(#[from] crate::tokens::TokenError),
    #[error("policies:\n{0}")]
    Policies(#[from] wrnexus_policies::load::PolicyErrors),
    #[error("billing: {0}")]
    Stripe(#[from] crate::billing::stripe_api::StripeApiError),
    #[error("{key}: {0}", key = .0.key())]
    Mail(#[from] crate::mail::transport::MailerError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("single sign-on HTTP client: {0}")]
    SsoClient(reqwest::Error),
}

impl From<crate::store::StoreError> for StartError {
    fn from(e: crate::store::StoreError) -> Self {
        StartError::Store(e)
    }
}

/// Connect everything the control plane needs. `local` also tells
/// in-process gateways about changes (the embedded mode).
pub async fn build(
    mut config: ControlPlaneConfig,
    local: Option<broadcast::Sender<Invalidation>>,
) -> Result<AppState, StartError> {
    // The sign-in page offers the instance-wide providers.
    config.pages = config.pages.clone().with_providers(
        config
            .sso
            .oidc_providers
            .iter()
            .map(|p| crate::api::pages::ProviderLink {
                name: p.name.clone(),
                display_name: p.display_name.clone(),
            })
            .collect(),
    );
    // One TLS provider (aws-lc-rs) for every client this process makes
    // (Stripe, webhooks, Postgres, Redis), whatever else the build links.
    wrnexus_backends::install_crypto_provider();
    let mut pusher = match &config.redis_url {
        Some(url) => {
            let client = wrnexus_backends::RedisClient::open(url, config.redis_ca_file.as_deref())
                .map_err(StartError::Redis)?;
            Pusher::with_redis_client(&client, config.redis_entry_ttl)
                .await
                .map_err(StartError::Redis)?
        }
        None => Pusher::none(),
    };
    if let Some(tx) = local {
        pusher = pusher.with_local(tx);
    }
    if config.migrate_on_start {
        migrate(&config).await?;
    }
    let store = Store::connect_without_migrating(&config.database_url, pusher).await?;
    store.require_isolation(config.allow_rls_bypass).await?;
    let keys = Keys::load_or_create(&store, &config.issuer, &config.audience).await?;
    let policies =
        wrnexus_policies::reload::load_checked_with(&config.policies, &config.policy_proofs)?;
    match policies.proofs() {
        Some(proofs) if proofs.is_on() => tracing::info!(%proofs, "policies loaded and proven"),
        Some(proofs) => tracing::warn!(
            %proofs,
            "policy proofs are OFF: no solver, the invariants are only sampled (install cvc5)"
        ),
        None => {}
    }
    // With Redis, every replica counts the same sign-in attempts, under the
    // deployment's signing key id (replicas share it; other deployments on
    // the same Redis do not).
    let limits = match store.pusher().redis_connection() {
        Some(conn) => Limiters::new(config.rate_limits).with_redis(conn, keys.kid()),
        None => Limiters::new(config.rate_limits),
    };
    // A bad SMTP URL or sender stops the start, not the first mail.
    Mailer::new(&config.mail)?;
    tracing::info!(to = %config.mail.destination(), "mail");
    if let Some(warning) = config.public_url_warning() {
        tracing::warn!("{warning}");
    }
    Ok(AppState {
        store,
        keys: Arc::new(keys),
        policies: Arc::new(policies),
        limits: Arc::new(limits),
        stripe: StripeApi::from_config(&config.billing)?,
        sso: Arc::new(SsoState::new(&config.sso).map_err(StartError::SsoClient)?),
        config: Arc::new(config),
    })
}

/// Apply pending migrations, as the owner when `migrate_database_url` is set.
pub async fn migrate(config: &ControlPlaneConfig) -> Result<(), StartError> {
    let url = config
        .migrate_database_url
        .as_deref()
        .unwrap_or(&config.database_url);
    let store = Store::connect_without_migrating(url, Pusher::none()).await?;
    store.migrate().await?;
    store.pool().close().await;
    Ok(())
}

/// Serve on an already-bound listener until `shutdown` resolves. The
/// webhook delivery, billing, mail and domain re-check workers (unless disabled) run
/// alongside and stop with the server, finishing the work they have in
/// flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    // Dropping the sender (when the server stops, however) stops the worker.
    let (stop, mut stopped) = watch::channel(());
    let worker = if state.config.webhooks.enabled {
        let worker = WebhookWorker::new(state.store.clone(), state.config.webhooks.clone())
            .map_err(std::io::Error::other)?;
        Some(worker.spawn(async move { while stopped.changed().await.is_ok() {} }))
    } else {
        None
    };
    let billing = &state.config.billing;
    let billing_worker = if billing.worker_enabled && billing.enabled() {
        let worker = BillingWorker::new(state.store.clone(), billing.clone(), state.stripe.clone());
        let mut stopped = stop.subscribe();
        Some(worker.spawn(async move { while stopped.changed().await.is_ok() {} }))
    } else {
        None
    };
    let mail_worker = if state.config.mail.worker_enabled {
        let worker = MailWorker::new(state.store.clone(), state.config.mail.clone())
            .map_err(std::io::Error::other)?;
        let mut stopped = stop.subscribe();
        Some(worker.spawn(async move { while stopped.changed().await.is_ok() {} }))
    } else {
        None
    };
    let domain_worker = if state.config.sso.domain_worker_enabled {
        let worker = DomainWorker::new(state.store.clone(), &state.config.sso)
            .map_err(std::io::Error::other)?;
        let mut stopped = stop.subscribe();
        Some(worker.spawn(async move { while stopped.changed().await.is_ok() {} }))
    } else {
        None
    };
    // Forget rate-limit keys nobody has used for a while.
    let limits = state.limits.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.retain_recent();
        }
    });
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        drop(stop);
    })
    .await;
    sweeper.abort();
    if let Some(worker) = billing_worker
        && let Err(e) = worker.await
    {
        tracing::error!(error = %e, "billing worker failed");
    }
    if let Some(worker) = domain_worker
        && let Err(e) = worker.await
    {
        tracing::error!(error = %e, "domain re-check worker failed");
    }
    if let Some(worker) = mail_worker
        && let Err(e) = worker.await
    {
        tracing::error!(error = %e, "mail worker failed");
    }
    if let Some(worker) = worker
        && let Err(e) = worker.await
    {
        tracing::error!(error = %e, "webhook worker failed");
    }
    served
}
