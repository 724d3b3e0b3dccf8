//! `wrnexus`: the one binary. Parses the command line, builds, runs.

mod access_log_settings;
mod billing_settings;
mod check;
mod control_plane_settings;
mod dev;
mod durations;
mod gateway_settings;
mod mail_settings;
#[cfg(test)]
mod mail_settings_tests;
mod policy;
mod settings;
mod sources;
mod tls_settings;
mod validate;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use settings::Settings;
use std::path::PathBuf;
use std::process::ExitCode;
use wrnexus_policies::PolicySource;

/// WRNexus: a tenancy-aware authorization gateway.
#[derive(Debug, Parser)]
#[command(name = "wrnexus", version, about)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "WRNEXUS_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate FILE, with the environment's WRNEXUS_<SECTION>__<KEY>
    /// overrides, as `gateway` and `control-plane` would at start.
    Check { file: PathBuf },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything in one process on embedded defaults: control plane,
    /// gateway and a demo upstream, SQLite in the data directory, no Redis.
    /// Mail (verification, password reset, invitations) goes to a dev
    /// mailbox shown at /.wrnexus/dev/mail, unless --smtp-url is given.
    Dev {
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
    },
    /// Run the gateway (the `[gateway]` section of the config file).
    Gateway {
        #[arg(long, short, env = "WRNEXUS_CONFIG")]
        config: PathBuf,
    },
    /// Run the control plane (the `[control_plane]` section).
    ControlPlane {
        #[arg(long, short, env = "WRNEXUS_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file without starting anything: the checks a start
    /// makes (keys, addresses, URLs, networks, routes, policy sets, page
    /// templates), each error naming the file and line or the variable.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, short, env = "WRNEXUS_CONFIG")]
        config: PathBuf,
    },
    /// Work with policy files.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Print a new assertion signing key for WRNEXUS_ASSERTION_KEY (give
    /// the same one to every gateway and control plane of a deployment).
    AssertionKey,
    /// Serve the demo upstream alone: it echoes every request as JSON.
    DemoUpstream {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
    },
    /// BENCHMARK REFERENCE: NO AUTHENTICATION. A bare pingora proxy that
    /// forwards every request to --upstream untouched, for the load
    /// benchmark's baseline. Never put it in front of a real app.
    #[command(
        hide = true,
        long_about = "BENCHMARK REFERENCE: NO AUTHENTICATION.\n\n\
            A bare pingora proxy that forwards every request to --upstream untouched, \
            so that the load benchmark (benches/load/run.sh) can compare the gateway \
            with pingora doing nothing else. It is not the gateway: it checks no \
            session, asks no policy and strips no header. Never put it in front of \
            a real app."
    )]
    Passthrough {
        /// Listen address.
        #[arg(long)]
        listen: String,
        /// Where every request goes, e.g. `http://127.0.0.1:3000`.
        #[arg(long)]
        upstream: String,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Serve HTTPS (HTTP/1.1 and h2) with this PEM certificate chain,
        /// on the gateway's TLS listener.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of `--tls-cert`.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WRNEXUS_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        // One flat object per event: its fields beside `timestamp`, `level`
        // and `target`, not under `fields`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let done: Result<()> = match cli.command {
        Command::Dev {
            listen,
            admin_listen,
            data_dir,
            policy_dir,
            allow_webhook_networks,
            tls_cert,
            tls_key,
            smtp_url,
            public_url,
            access_log,
        } => dev::run(dev::DevOptions {
            listen,
            admin_listen,
            data_dir,
            policies: policy_dir.map_or(PolicySource::Shipped, PolicySource::Dir),
            webhook_allow_networks: allow_webhook_networks,
            tls: tls_cert.zip(tls_key),
            smtp_url: smtp_url.filter(|u| !u.trim().is_empty()),
            public_url,
            access_log: access_log
                .as_deref()
                .map(wrnexus_gateway::config::AccessLogTarget::parse),
        }),
        Command::Gateway { config } => {
            let gateway = validate::gateway(&Settings::load(&config)?)?;
            Ok(wrnexus_gateway::run(gateway, None)?)
        }
        Command::ControlPlane { config } => {
            let (listen, cp) = validate::control_plane(&Settings::load(&config)?)?;
            runtime()?.block_on(async {
                let state = wrnexus_control_plane::build(cp, None).await?;
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                tracing::info!(listen = %listen, "control plane listening");
                // SIGTERM or Ctrl-C: stop accepting, finish in-flight requests.
                let shutdown = async {
                    let terminate = async {
                        match tokio::signal::unix::signal(
                            tokio::signal::unix::SignalKind::terminate(),
                        ) {
                            Ok(mut s) => {
                                s.recv().await;
                            }
                            Err(_) => std::future::pending::<()>().await,
                        }
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        () = terminate => {}
                    }
                    tracing::info!("shutting down: finishing in-flight requests");
                };
                wrnexus_control_plane::serve(listener, state, shutdown).await?;
                Ok(())
            })
        }
        Command::AssertionKey => {
            let (_, secret) = wrnexus_policies::assertion::AssertionKey::generate()?;
            println!("{secret}");
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => check::run(&file),
        Command::Migrate { config } => {
            let cp = validate::migrate(&Settings::load(&config)?)?;
            runtime()?.block_on(async {
                wrnexus_control_plane::server::migrate(&cp).await?;
                println!("migrations applied");
                Ok(())
            })
        }
        Command::Policy { command } => return policy::run(command),
        Command::Passthrough {
            listen,
            upstream,
            threads,
            tls_cert,
            tls_key,
        } => {
            let upstream = wrnexus_gateway::Upstream::parse(&upstream)?;
            let tls = tls_cert.zip(tls_key).map(|(cert_file, key_file)| {
                wrnexus_gateway::config::CertificateFiles {
                    cert_file,
                    key_file,
                }
            });
            eprintln!(
                "BENCHMARK PASS-THROUGH: no authentication; every request goes to the upstream"
            );
            Ok(wrnexus_gateway::passthrough::run(
                &listen,
                &upstream,
                threads,
                tls.as_ref(),
            )?)
        }
        Command::DemoUpstream { listen } => runtime()?.block_on(async {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!("demo upstream on http://{listen}");
            wrnexus_gateway::demo::serve(listener).await?;
            Ok(())
        }),
    };
    done.map(|()| ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // aws-lc-rs for every TLS connection and listener of the process
    // (pingora's rustls support would otherwise install ring).
    wrnexus_backends::install_crypto_provider();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
