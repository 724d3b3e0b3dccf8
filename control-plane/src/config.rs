//! Control-plane settings.

use std::time::Duration;
use wrnexus_policies::PolicySource;
use wrnexus_policies::claims::{DEFAULT_AUDIENCE, DEFAULT_COOKIE_NAME, DEFAULT_ISSUER};

/// Everything the control plane needs to run. Built by the binary from the
/// config file, flags and environment.
#[derive(Clone)]
pub struct ControlPlaneConfig {
    /// `postgres://…` or `sqlite://…`.
    pub database_url: String,
    /// When set, decision data is pushed to Redis and invalidations published.
    pub redis_url: Option<String>,
    /// The CA a `rediss://` server's certificate is checked against;
    /// `None`: the system's trust store.
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// How long pushed Redis entries live (a safety net; changes are pushed).
    pub redis_entry_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub cookie_name: String,
    /// `Secure` on the cookie; required by the `__Host-` prefix.
    pub cookie_secure: bool,
    pub session_ttl_secs: i64,
    pub invitation_ttl_secs: i64,
    /// `[session] require_verified_email`: gateways refuse the sessions of
    /// people who have not verified their email, and so the control plane
    /// refuses them new API keys (a key would carry them past the gateway).
    pub require_verified_email: bool,
    /// The address people reach the front door at (the gateway's public
    /// origin, e.g. `https://app.example.com`): every link mailed is built
    /// on it, never on a request's Host, so a forged Host cannot send
    /// someone's reset link elsewhere.
    pub public_url: String,
    /// `public_url` was configured (not the default): without it, links
    /// mailed through a real SMTP server would point at localhost.
    pub public_url_set: bool,
    /// How long an email verification link works.
    pub verification_ttl_secs: i64,
    /// How long a password reset link works.
    pub reset_ttl_secs: i64,
    /// Unset: the operator API answers that it is off.
    pub operator_token: Option<String>,
    /// `WRNEXUS_GATEWAY_TOKEN`, which gateways show with their reports of
    /// API key use; unset: such reports are refused as disabled.
    pub gateway_token: Option<String>,
    pub policies: PolicySource,
    /// The solver the policy set is proven with when loaded, and how long
    /// one query may take (none at hand: proofs off, said loudly).
    pub policy_proofs: wrnexus_policies::solver::ProofSettings,
    /// The owner's URL for migrations, when the service itself connects as
    /// a role without DDL rights (row-level security in force). Unset:
    /// `database_url` migrates.
    pub migrate_database_url: Option<String>,
    /// Apply pending migrations at start.
    pub migrate_on_start: bool,
    /// Start on Postgres even when the service connection's role is not
    /// bound by row-level security (a superuser, BYPASSRLS, or the tables'
    /// owner). For quick trials only; refused by default.
    pub allow_rls_bypass: bool,
    pub rate_limits: crate::api::limits::RateLimits,
    /// Peers whose `X-Forwarded-For/-Proto/-Host` are believed (the
    /// gateways); default loopback only.
    pub trusted_proxies: crate::api::forwarded::TrustedProxies,
    /// The gateways' assertion key, whose public half `/v1/assertion-keys`
    /// publishes; unset: that endpoint says assertions are off.
    pub assertion_key: Option<wrnexus_policies::assertion::AssertionKey>,
    /// Outbound webhook delivery.
    pub webhooks: WebhookConfig,
    /// Stripe billing and the dunning mail.
    pub billing: BillingConfig,
    /// Where and how mail is sent, and its templates.
    pub mail: crate::mail::MailConfig,
    /// The sign-in and sign-up templates and the logo: built in, or
    /// replaced from `[control_plane] pages_dir` (loaded by the binary).
    pub pages: crate::api::pages::Pages,
    /// Single sign-on: the secrets key, instance-wide providers, and where
    /// workspace providers may be fetched from.
    pub sso: SsoConfig,
}

/// Single sign-on settings.
#[derive(Clone)]
pub struct SsoConfig {
    /// `[control_plane] secrets_key`: the AES-256-GCM key workspace
    /// connections' client secrets are sealed with; unset: workspaces
    /// cannot configure a connection.
    pub secrets_key: Option<[u8; 32]>,
    /// `[[control_plane.oidc_providers]]`: instance-wide providers, shown
    /// on the sign-in page.
    pub oidc_providers: Vec<OidcProviderConfig>,
    /// Networks workspace providers may be fetched at although they are not
    /// public; empty: public addresses only.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// `[control_plane] dns_resolver`: the DNS server (UDP and TCP) domain
    /// verification asks; unset: the system's resolvers.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// `[control_plane] domain_recheck_interval_secs`: how often a verified
    /// domain's record is checked again.
    pub domain_recheck_interval: Duration,
    /// Run the domain re-check worker alongside the server.
    pub domain_worker_enabled: bool,
}

impl Default for SsoConfig {
    fn default() -> Self {
        SsoConfig {
            secrets_key: None,
            oidc_providers: Vec::new(),
            allow_networks: Vec::new(),
            dns_resolver: None,
            domain_recheck_interval: Duration::from_secs(24 * 3600),
            domain_worker_enabled: true,
        }
    }
}

impl SsoConfig {
    /// Where workspace providers may be fetched from.
    pub fn target_policy(&self) -> crate::webhook_target::TargetPolicy {
        crate::webhook_target::TargetPolicy::new(self.allow_networks.clone())
    }

    /// The instance-wide provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&OidcProviderConfig> {
        self.oidc_providers.iter().find(|p| p.name == name)
    }
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("secrets_key", &self.secrets_key.is_some())
            .field("oidc_providers", &self.oidc_providers)
            .field("allow_networks", &self.allow_networks)
            .field("dns_resolver", &self.dns_resolver)
            .field("domain_recheck_interval", &self.domain_recheck_interval)
            .field("domain_worker_enabled", &self.domain_worker_enabled)
            .finish_non_exhaustive()
    }
}

/// An instance-wide OpenID Connect provider, from the operator's config.
#[derive(Clone)]
pub struct OidcProviderConfig {
    /// Its name in URLs (`/.wrnexus/sso/start?provider=NAME`).
    pub name: String,
    /// The button's label: "Continue with {display_name}".
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Billing with Stripe. Without a webhook secret billing is off and its
/// endpoints say so.
#[derive(Clone)]
pub struct BillingConfig {
    /// `WRNEXUS_STRIPE_WEBHOOK_SECRET` (`whsec_…`); unset: billing is off.
    pub webhook_secret: Option<String>,
    /// `WRNEXUS_STRIPE_API_KEY` (`sk_…`): customers, checkout, portal, seats.
    pub api_key: Option<String>,
    /// Stripe's API base URL (a local stand-in in tests).
    pub api_base: String,
    /// The per-seat price a checkout subscribes to.
    pub price_id: Option<String>,
    /// The plan a workspace is on while its subscription is paid.
    pub plan: String,
    /// How long a `past_due` workspace stays writable before suspension.
    pub grace_period: Duration,
    /// Where Checkout and the billing portal send the owner back to.
    pub return_url: String,
    /// How often the billing worker looks for due work (events, seats, grace).
    pub poll_interval: Duration,
    /// Run the billing worker in this process.
    pub worker_enabled: bool,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            webhook_secret: None,
            api_key: None,
            api_base: "https://api.stripe.com/".to_string(),
            price_id: None,
            plan: "team".to_string(),
            grace_period: Duration::from_secs(7 * 24 * 3600),
            return_url: "http://127.0.0.1:8080/".to_string(),
            poll_interval: Duration::from_secs(1),
            worker_enabled: true,
        }
    }
}

impl BillingConfig {
    /// Billing is on when Stripe's webhooks can be verified.
    pub fn enabled(&self) -> bool {
        self.webhook_secret.is_some()
    }
}

impl std::fmt::Debug for BillingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingConfig")
            .field("enabled", &self.enabled())
            .field("api_key", &self.api_key.is_some())
            .field("api_base", &self.api_base)
            .field("price_id", &self.price_id)
            .field("plan", &self.plan)
            .field("grace_period", &self.grace_period)
            .field("worker_enabled", &self.worker_enabled)
            .finish_non_exhaustive()
    }
}

/// How the webhook worker delivers the outbox.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Run the delivery worker alongside the server.
    pub enabled: bool,
    /// How often to look for due deliveries.
    pub poll_interval: Duration,
    /// Attempts before a delivery is `dead`.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles on each further failure.
    pub backoff_base: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// Per-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// Most deliveries claimed per poll.
    pub batch_size: u32,
    /// Networks webhooks may reach although they are not public (loopback,
    /// private, link-local, metadata, …); empty: public addresses only.
    pub allow_networks: Vec<ipnet::IpNet>,
}

impl WebhookConfig {
    /// Where webhooks may go under this configuration.
    pub fn target_policy(&self) -> crate::webhook_target::TargetPolicy {
        crate::webhook_target::TargetPolicy::new(self.allow_networks.clone())
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            enabled: true,
            poll_interval: Duration::from_secs(1),
            max_attempts: 8,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            batch_size: 32,
            allow_networks: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ControlPlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneConfig")
            .field("database", &crate::store::redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("require_verified_email", &self.require_verified_email)
            .field(
                "migrate_database",
                &self
                    .migrate_database_url
                    .as_deref()
                    .map(crate::store::redact_url),
            )
            .field(
                "redis",
                &self.redis_url.as_deref().map(crate::store::redact_url),
            )
            .field("redis_ca_file", &self.redis_ca_file)
            .field("operator_api", &self.operator_token.is_some())
            .field("gateway_reports", &self.gateway_token.is_some())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("policies", &self.policies)
            .field("policy_proofs", &self.policy_proofs)
            .field("webhooks", &self.webhooks)
            .field("billing", &self.billing)
            .field("mail", &self.mail)
            .field("pages", &self.pages)
            .field("sso", &self.sso)
            .finish_non_exhaustive()
    }
}

impl ControlPlaneConfig {
    /// An absolute link to `path_and_query` (which starts with `/`) on the
    /// public URL.
    pub fn link(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.public_url.trim_end_matches('/'))
    }

    /// What to warn about before starting with this configuration: mail
    /// goes to an SMTP server while `public_url` was left at its default,
    /// so every mailed link would point at this machine. Not an error.
    pub fn public_url_warning(&self) -> Option<String> {
        (self.mail.smtp_url.is_some() && !self.public_url_set).then(|| {
            format!(
                "[control_plane] public_url is not set, so every mailed link (verification, \
                 password reset, invitation) points at {}, which people cannot reach: set it \
                 to the address people reach the gateway at, like https://app.example.com",
                self.public_url
            )
        })
    }

    /// Defaults around a database URL.
    pub fn new(database_url: impl Into<String>) -> Self {
        ControlPlaneConfig {
            database_url: database_url.into(),
            redis_url: None,
            redis_ca_file: None,
            redis_entry_ttl: Duration::from_secs(60),
            issuer: DEFAULT_ISSUER.to_string(),
            audience: DEFAULT_AUDIENCE.to_string(),
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            cookie_secure: true,
            session_ttl_secs: 24 * 3600,
            invitation_ttl_secs: 7 * 24 * 3600,
            require_verified_email: false,
            public_url: "http://127.0.0.1:8080".to_string(),
            public_url_set: false,
            verification_ttl_secs: 24 * 3600,
            reset_ttl_secs: 3600,
            operator_token: None,
            gateway_token: None,
            policies: PolicySource::Shipped,
            policy_proofs: wrnexus_policies::solver::ProofSettings::default(),
            migrate_database_url: None,
            migrate_on_start: true,
            allow_rls_bypass: false,
            rate_limits: crate::api::limits::RateLimits::default(),
            trusted_proxies: crate::api::forwarded::TrustedProxies::default(),
            assertion_key: None,
            webhooks: WebhookConfig::default(),
            billing: BillingConfig::default(),
            mail: crate::mail::MailConfig::default(),
            pages: crate::api::pages::Pages::default(),
            sso: SsoConfig::default(),
        }
    }
}
