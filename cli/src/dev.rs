//! `wrnexus dev`: control plane, gateway and demo upstream in one process, on
//! SQLite with an in-process cache — no Postgres, no Redis. Mail goes to an
//! in-memory dev mailbox (`/.wrnexus/dev/mail`) unless `--smtp-url` is given.

use anyhow::{Context, Result, anyhow};
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::mail::transport::check_smtp_url;
use wrnexus_control_plane::mail::{DevMailbox, MailConfig};
use wrnexus_control_plane::store::redact_url;
use wrnexus_control_plane::store::sqlite_url;
use wrnexus_control_plane::webhook_target::parse_networks;
use wrnexus_gateway::config::GatewayToken;
use wrnexus_gateway::config::TlsConfig;
use wrnexus_gateway::{GatewayConfig, Upstream};
use wrnexus_policies::PolicySource;
use wrnexus_policies::assertion::AssertionKey;

/// What `wrnexus dev` was asked for.
#[derive(Debug)]
pub struct DevOptions {
    pub listen: String,
    pub admin_listen: String,
    pub data_dir: PathBuf,
    pub policies: PolicySource,
    /// Networks webhooks may reach although not public (`--allow-webhook-network`).
    pub webhook_allow_networks: Vec<String>,
    /// Networks workspaces' IdPs may be fetched at (`--allow-sso-network`).
    pub sso_allow_networks: Vec<String>,
    /// `--dns-resolver`: where domains' TXT records are looked up.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Certificate chain and key files: the gateway serves HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--smtp-url`: real mail; unset: the dev mailbox.
    pub smtp_url: Option<String>,
    /// `--public-url`: where mailed links point; unset: the gateway.
    pub public_url: Option<String>,
    /// `--access-log`: one JSON line per request, written here.
    pub access_log: Option<wrnexus_gateway::config::AccessLogTarget>,
    /// `--otlp-endpoint`: the gateway's spans go here (the control plane's
    /// through the process's subscriber).
    pub tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
}

pub fn run(options: DevOptions) -> Result<()> {
    std::fs::create_dir_all(&options.data_dir).with_context(|| {
        format!(
            "cannot create data directory `{}`",
            options.data_dir.display()
        )
    })?;
    let database = options.data_dir.join("wrnexus.sqlite");
    let webhook_networks = parse_networks(&options.webhook_allow_networks)
        .map_err(|e| anyhow!("--allow-webhook-network (WRNEXUS_WEBHOOK_ALLOW_NETWORKS): {e}"))?;
    let sso_networks = parse_networks(&options.sso_allow_networks)
        .map_err(|e| anyhow!("--allow-sso-network (WRNEXUS_SSO_ALLOW_NETWORKS): {e}"))?;
    // Over TLS the certificate is read before anything starts: a bad one
    // is named now, not after the control plane is up.
    let tls = options
        .tls
        .as_ref()
        .map(|(cert, key)| TlsConfig::new(cert, key));
    if let Some(tls) = &tls {
        let provider = wrnexus_gateway::edge::certs::provider();
        wrnexus_gateway::edge::reload::CertReloader::first(&tls.certificates, &provider).map_err(
            |e| anyhow!("--tls-cert/--tls-key (WRNEXUS_TLS_CERT, WRNEXUS_TLS_KEY): {e}"),
        )?;
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = match &options.public_url {
        Some(url) => crate::control_plane_settings::public_url(url)
            .map_err(|e| anyhow!("--public-url (WRNEXUS_PUBLIC_URL): {e}"))?,
        None => format!("{scheme}://{}", options.listen),
    };
    let mut mail = MailConfig::default();
    match &options.smtp_url {
        Some(url) => {
            check_smtp_url(url).map_err(|e| anyhow!("--smtp-url (WRNEXUS_SMTP_URL): {e}"))?;
            mail.smtp_url = Some(url.clone());
        }
        None => mail.dev_mailbox = Some(DevMailbox::new()),
    }
    let mail_line = match &options.smtp_url {
        Some(url) => format!("sent through {}", redact_url(url)),
        None => format!("kept in the dev mailbox: {public_url}/.wrnexus/dev/mail"),
    };
    let (bus, _) = broadcast::channel(4096);
    // Assertions are on in dev, so the demo app shows the signed header: a
    // key from WRNEXUS_ASSERTION_KEY, else one made for this run.
    let assertion_key = match crate::settings::assertion_key_from_env()? {
        Some(key) => key,
        None => AssertionKey::generate()?.0,
    };
    // Gateway and control plane are one process: their shared secret for
    // reports of API key use is made for this run.
    let gateway_token = GatewayToken::generate();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wrnexus-control-plane")
        .enable_all()
        .build()?;
    let (control_plane, demo) = runtime.block_on(async {
        let mut config = ControlPlaneConfig::new(sqlite_url(&database));
        config.operator_token = std::env::var("WRNEXUS_OPERATOR_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        config.policies = options.policies.clone();
        crate::billing_settings::secrets_from_env(&mut config.billing);
        config.billing.return_url = format!("{public_url}/");
        config.public_url = public_url.clone();
        // The dev server's own address (or --public-url).
        config.public_url_set = true;
        config.mail = mail;
        config.assertion_key = Some(assertion_key.clone());
        config.gateway_token = Some(gateway_token.expose().to_string());
        // Safe by default: webhooks reach public addresses only.
        config.webhooks.allow_networks = webhook_networks;
        // Workspaces' single sign-on secrets, sealed with a key kept in the
        // data dir (made on the first run).
        config.sso.secrets_key = Some(crate::sso_settings::dev_secrets_key(&options.data_dir)?);
        config.sso.allow_networks = sso_networks;
        config.sso.dns_resolver = options.dns_resolver;
        let state = wrnexus_control_plane::build(config, Some(bus.clone())).await?;
        let cp = TcpListener::bind("127.0.0.1:0").await?;
        let cp_addr = cp.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = wrnexus_control_plane::serve(cp, state, std::future::pending()).await {
                tracing::error!(error = %e, "control plane stopped");
            }
        });
        let demo = TcpListener::bind("127.0.0.1:0").await?;
        let demo_addr = demo.local_addr()?;
        tokio::spawn(wrnexus_gateway::demo::serve(demo, None));
        anyhow::Ok((cp_addr, demo_addr))
    })?;

    let mut gateway = GatewayConfig::new(
        options.listen.clone(),
        format!("http://{control_plane}"),
        Upstream::parse(&format!("http://{demo}"))?,
    );
    gateway.admin_listen = options.admin_listen.clone();
    gateway.tls = tls;
    gateway.assertion_key = Some(assertion_key);
    gateway.gateway_token = Some(gateway_token);
    // Ctrl-C in a terminal should not keep a developer waiting long.
    gateway.drain_timeout = std::time::Duration::from_secs(3);
    gateway.policies = options.policies;
    gateway.access_log = options.access_log.clone();
    gateway.tracer = options.tracer.clone();
    println!(
        "WRNexus dev is running (data in {}).",
        options.data_dir.display()
    );
    println!(
        "  Open {scheme}://{}/ to sign up and reach the demo app.",
        options.listen
    );
    println!(
        "  Metrics and health: http://{}/metrics",
        options.admin_listen
    );
    println!("  Mail: {mail_line}.");
    if std::env::var_os("WRNEXUS_OPERATOR_TOKEN").is_none() {
        println!("  Operator API: off (set WRNEXUS_OPERATOR_TOKEN to enable it).");
    }
    wrnexus_gateway::run(gateway, Some(bus))?;
    drop(runtime);
    Ok(())
}
