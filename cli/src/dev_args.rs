//! The command line of `wrnexus dev`: its flags (each with its
//! environment variable) and the options and tracing they make.

use crate::dev::DevOptions;
use crate::telemetry::TelemetryConfig;
use anyhow::{Result, anyhow};
use std::path::PathBuf;
use wrnexus_policies::PolicySource;

/// `wrnexus dev`'s flags.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Gateway listen address.
    #[arg(long, env = "WRNEXUS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Admin listener (/metrics, /live, /ready).
    #[arg(long, env = "WRNEXUS_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    admin_listen: String,
    /// Where the SQLite database lives.
    #[arg(long, env = "WRNEXUS_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Policy directory (default: the shipped policies).
    #[arg(long, env = "WRNEXUS_POLICY_DIR")]
    policy_dir: Option<PathBuf>,
    /// A network (CIDR, e.g. 127.0.0.0/8) outbound webhooks may reach
    /// although it is not public; repeat for more. Default: none.
    #[arg(
        long = "allow-webhook-network",
        value_name = "CIDR",
        env = "WRNEXUS_WEBHOOK_ALLOW_NETWORKS",
        value_delimiter = ','
    )]
    allow_webhook_networks: Vec<String>,
    /// A network (CIDR) workspaces' identity providers may be fetched
    /// at although it is not public (e.g. 127.0.0.0/8 for an IdP on
    /// this machine); repeat for more. Default: none.
    #[arg(
        long = "allow-sso-network",
        value_name = "CIDR",
        env = "WRNEXUS_SSO_ALLOW_NETWORKS",
        value_delimiter = ','
    )]
    allow_sso_networks: Vec<String>,
    /// The DNS server (IP:PORT) asked for the TXT records that prove
    /// workspaces' domains. Default: the system's.
    #[arg(long, env = "WRNEXUS_DNS_RESOLVER", value_name = "ADDR")]
    dns_resolver: Option<std::net::SocketAddr>,
    /// Serve the gateway over HTTPS (and HTTP/2) with this certificate
    /// chain (PEM); needs --tls-key. Reloaded when the file changes.
    #[arg(
        long,
        env = "WRNEXUS_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(
        long,
        env = "WRNEXUS_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Send mail through this SMTP server (`smtp://host:port`,
    /// `smtps://user:pass@host`) instead of keeping it in the dev
    /// mailbox at /.wrnexus/dev/mail.
    #[arg(
        long,
        env = "WRNEXUS_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    smtp_url: Option<String>,
    /// The address mailed links point at (default: the gateway's own,
    /// https with --tls-cert), e.g. when the gateway sits behind a proxy.
    #[arg(long, env = "WRNEXUS_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Write one JSON line per request (the access log) to standard
    /// output, or to this file (appended to).
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        default_missing_value = "stdout"
    )]
    access_log: Option<String>,
    /// Send traces (OpenTelemetry, OTLP/HTTP) to this receiver, e.g.
    /// http://127.0.0.1:4318; every request is traced.
    #[arg(long, env = "WRNEXUS_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
}

impl DevArgs {
    /// The tracing `--otlp-endpoint` asks for (`None`: off).
    pub fn telemetry(&self) -> Result<Option<TelemetryConfig>> {
        self.otlp_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(|e| TelemetryConfig::to(e, "wrnexus"))
            .transpose()
            .map_err(|e| anyhow!("--otlp-endpoint (WRNEXUS_OTLP_ENDPOINT): {e}"))
    }

    /// What the dev server runs with; `tracer`: where the gateway's spans go.
    pub fn options(self, tracer: Option<opentelemetry_sdk::trace::SdkTracer>) -> DevOptions {
        DevOptions {
            listen: self.listen,
            admin_listen: self.admin_listen,
            data_dir: self.data_dir,
            policies: self
                .policy_dir
                .map_or(PolicySource::Shipped, PolicySource::Dir),
            webhook_allow_networks: self.allow_webhook_networks,
            sso_allow_networks: self.allow_sso_networks,
            dns_resolver: self.dns_resolver,
            tls: self.tls_cert.zip(self.tls_key),
            smtp_url: self.smtp_url.filter(|u| !u.trim().is_empty()),
            public_url: self.public_url,
            access_log: self
                .access_log
                .as_deref()
                .map(wrnexus_gateway::config::AccessLogTarget::parse),
            tracer,
        }
    }
}
