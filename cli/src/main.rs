//! `wrnexus`: the one binary. Parses the command line, builds, runs.

mod access_log_settings;
mod billing_settings;
mod check;
mod control_plane_settings;
mod dev;
mod dev_args;
mod durations;
mod gateway_settings;
mod huge_pages;
mod logging;
mod mail_settings;
#[cfg(test)]
mod mail_settings_tests;
mod policy;
mod settings;
mod sources;
mod sso_settings;
mod telemetry;
mod tls_settings;
mod validate;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use logging::LogFormat;
use settings::Settings;
use std::path::PathBuf;
use std::process::ExitCode;
use telemetry::{GATEWAY_SCOPE, Telemetry, TelemetryConfig};

/// mimalloc for every allocation of the process: measured against glibc's
/// allocator and jemalloc on the proxy path, it took the most work off
/// each request at about the same memory (docs/benchmarks.md, "The
/// allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything in one process on embedded defaults: control plane,
    /// gateway and a demo upstream, SQLite in the data directory, no Redis.
    /// Mail (verification, password reset, invitations) goes to a dev
    /// mailbox shown at /.wrnexus/dev/mail, unless --smtp-url is given.
    Dev(Box<dev_args::DevArgs>),
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
    /// Serve the demo upstream alone: it echoes every request as JSON (the
    /// body is read, its length echoed; over 1 MiB is answered 413).
    DemoUpstream {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
        /// Also append every request received (time, method, path,
        /// headers) to this file, one JSON line each.
        #[arg(long, value_name = "FILE")]
        record: Option<std::path::PathBuf>,
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

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Start tracing as `telemetry` says (off: `None`), then logging.
fn observe(format: LogFormat, telemetry: Option<TelemetryConfig>) -> Result<Option<Telemetry>> {
    let started = telemetry.as_ref().map(Telemetry::start).transpose()?;
    logging::init(format, started.as_ref());
    if let Some(c) = &telemetry {
        tracing::info!(
            endpoint = %c.endpoint,
            sample_ratio = c.sample_ratio,
            service_name = %c.service_name,
            "tracing on: spans go to the OTLP receiver"
        );
    }
    Ok(started)
}

/// `settings`'s tracing, `default_service` naming the process unless the
/// file does, and logging: started before anything else is checked, so
/// what the checks warn about is logged.
fn observe_with(
    format: LogFormat,
    settings: &Settings,
    default_service: &str,
) -> Result<Option<Telemetry>> {
    let config = settings
        .telemetry
        .config(&settings.sources, default_service)?;
    observe(format, config)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let format = cli.log_format;
    // The services start logging once their tracing is known.
    if !matches!(
        cli.command,
        Command::Dev { .. } | Command::Gateway { .. } | Command::ControlPlane { .. }
    ) {
        logging::init(format, None);
    }
    let done: Result<()> = match cli.command {
        Command::Dev(args) => {
            let telemetry = observe(format, args.telemetry()?)?;
            dev::run(args.options(telemetry.as_ref().map(|t| t.tracer(GATEWAY_SCOPE))))
        }
        Command::Gateway { config } => {
            let settings = Settings::load(&config)?;
            let telemetry = observe_with(format, &settings, "wrnexus-gateway")?;
            let mut gateway = validate::gateway(&settings)?;
            gateway.tracer = telemetry.as_ref().map(|t| t.tracer(GATEWAY_SCOPE));
            Ok(wrnexus_gateway::run(gateway, None)?)
        }
        Command::ControlPlane { config } => {
            let settings = Settings::load(&config)?;
            let _telemetry = observe_with(format, &settings, "wrnexus-control-plane")?;
            let (listen, cp) = validate::control_plane(&settings)?;
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
        Command::DemoUpstream { listen, record } => runtime()?.block_on(async {
            let recorder = match &record {
                Some(path) => Some(
                    wrnexus_gateway::demo::Recorder::open(path)
                        .with_context(|| format!("--record: cannot open {}", path.display()))?,
                ),
                None => None,
            };
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            println!("demo upstream on http://{listen}");
            wrnexus_gateway::demo::serve(listener, recorder).await?;
            Ok(())
        }),
    };
    done.map(|()| ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = huge_pages::disable() {
        eprintln!("warning: transparent huge pages stay on for this process: {e}");
    }
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
