//! A running WRNexus: embedded, or split into real processes.

use crate::TestResult;
use crate::certs::CertFiles;
use crate::h2_client::https_client;
use crate::process::{Proc, free_port, wait_ready, wait_ready_with};
use std::path::PathBuf;
use std::time::Duration;

/// The assertion signing key of split test stacks (`wrnexus assertion-key`
/// output; a test fixture, not a secret).
pub const ASSERTION_KEY: &str = "MFECAQEwBQYDK2VwBCIEII8R5oqNpvGzBHaIY4a0TJEDc5SzBhtvCB6aeIwhUWQLgSEAn6bLJdhDXTLYmd/RDoorP6cyN0/L39BTBUD0DHHPN94=";

/// The operator token every test stack is started with.
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";

/// The token split stacks' gateways report API key use with.
pub const GATEWAY_TOKEN: &str = "test-gateway-token-0123456789";

const STARTUP: Duration = Duration::from_secs(60);

/// A running stack; dropping it stops every process.
#[derive(Debug)]
pub struct Stack {
    /// Gateway base URL, e.g. `http://127.0.0.1:41234`.
    pub gateway: String,
    /// Gateway admin base URL.
    pub admin: String,
    /// The database the control plane uses (to mint test tokens).
    pub database_url: String,
    /// The control plane's and the upstream's addresses (split stacks).
    pub control_plane: String,
    pub upstream: String,
    /// Extra `WRNEXUS_*` settings every gateway of this stack starts with.
    pub gateway_env: Vec<(String, String)>,
    pub procs: Vec<Proc>,
    pub dir: tempfile::TempDir,
}

/// The example config shipped in `deploy/`, which the split stack runs on.
pub fn example_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/wrnexus.example.toml")
}

impl Stack {
    /// `wrnexus dev`: SQLite, in-process cache, no Redis.
    pub async fn embedded() -> TestResult<Stack> {
        Self::embedded_with(None, &[]).await
    }

    /// `wrnexus dev` with extra arguments, e.g. `&["--smtp-url", url]`.
    pub async fn embedded_args(extra: &[&str]) -> TestResult<Stack> {
        Self::embedded_with(None, extra).await
    }

    /// `wrnexus dev --tls-cert … --tls-key …`: the gateway at
    /// `https://127.0.0.1:…`, serving `files`' certificate.
    pub async fn embedded_tls(files: &CertFiles) -> TestResult<Stack> {
        Self::embedded_with(Some(files), &[]).await
    }

    async fn embedded_with(tls: Option<&CertFiles>, extra: &[&str]) -> TestResult<Stack> {
        let dir = tempfile::tempdir()?;
        let (gw, admin) = (free_port()?, free_port()?);
        let data = dir.path().join("data");
        let listen = format!("127.0.0.1:{gw}");
        let admin_listen = format!("127.0.0.1:{admin}");
        let data_arg = data.display().to_string();
        let mut args = vec![
            "dev".to_string(),
            "--listen".to_string(),
            listen.clone(),
            "--admin-listen".to_string(),
            admin_listen.clone(),
            "--data-dir".to_string(),
            data_arg,
        ];
        if let Some(files) = tls {
            args.extend([
                "--tls-cert".to_string(),
                files.cert.display().to_string(),
                "--tls-key".to_string(),
                files.key.display().to_string(),
            ]);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut proc = Proc::spawn(
            "dev",
            dir.path(),
            &args,
            &[("WRNEXUS_OPERATOR_TOKEN", OPERATOR_TOKEN)],
        )?;
        let admin = format!("http://{admin_listen}");
        wait_ready(&format!("{admin}/ready"), &mut proc, STARTUP).await?;
        let (gateway, client) = match tls {
            Some(files) => (
                format!("https://{listen}"),
                https_client(&std::fs::read_to_string(&files.ca)?)?.build()?,
            ),
            None => (format!("http://{listen}"), reqwest::Client::new()),
        };
        let signin = format!("{gateway}/.wrnexus/signin");
        wait_ready_with(&client, &signin, &mut proc, STARTUP).await?;
        Ok(Stack {
            control_plane: gateway.clone(),
            gateway,
            admin,
            database_url: format!("sqlite://{}", data.join("wrnexus.sqlite").display()),
            upstream: String::new(),
            gateway_env: Vec::new(),
            procs: vec![proc],
            dir,
        })
    }

    /// Control plane, gateway and demo upstream as separate processes on
    /// Postgres and Redis, configured by the example config plus
    /// `WRNEXUS_*` overrides.
    pub async fn split(database_url: &str, redis_url: &str) -> TestResult<Stack> {
        Self::split_with(database_url, redis_url, &[]).await
    }

    /// [`Stack::split`] with extra gateway settings, e.g.
    /// `("WRNEXUS_GATEWAY__STALE_BOUND_SECS", "2")`.
    pub async fn split_with(
        database_url: &str,
        redis_url: &str,
        gateway_env: &[(&str, &str)],
    ) -> TestResult<Stack> {
        Self::split_with_env(database_url, redis_url, gateway_env, &[]).await
    }

    /// [`Stack::split_with`], with extra control-plane settings too, e.g.
    /// `("WRNEXUS_STRIPE_WEBHOOK_SECRET", "whsec_…")`.
    pub async fn split_with_env(
        database_url: &str,
        redis_url: &str,
        gateway_env: &[(&str, &str)],
        control_plane_env: &[(&str, &str)],
    ) -> TestResult<Stack> {
        Self::split_full(database_url, redis_url, gateway_env, control_plane_env, &[]).await
    }

    /// [`Stack::split_with_env`] whose demo upstream appends every request
    /// it receives to `record` (`demo-upstream --record`).
    pub async fn split_recording(
        database_url: &str,
        redis_url: &str,
        gateway_env: &[(&str, &str)],
        control_plane_env: &[(&str, &str)],
        record: &std::path::Path,
    ) -> TestResult<Stack> {
        let record = record.display().to_string();
        Self::split_full(
            database_url,
            redis_url,
            gateway_env,
            control_plane_env,
            &["--record", &record],
        )
        .await
    }

    async fn split_full(
        database_url: &str,
        redis_url: &str,
        gateway_env: &[(&str, &str)],
        control_plane_env: &[(&str, &str)],
        upstream_args: &[&str],
    ) -> TestResult<Stack> {
        let gateway_env: Vec<(String, String)> = gateway_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = tempfile::tempdir()?;
        let (cp, gw, admin, up) = (free_port()?, free_port()?, free_port()?, free_port()?);
        let cp_url = format!("http://127.0.0.1:{cp}");
        let up_listen = format!("127.0.0.1:{up}");
        let mut args = vec!["demo-upstream", "--listen", &up_listen];
        args.extend_from_slice(upstream_args);
        let mut upstream = Proc::spawn("upstream", dir.path(), &args, &[])?;
        let control = Self::spawn_control_plane(
            &dir,
            "control-plane",
            cp,
            database_url,
            redis_url,
            control_plane_env,
        )
        .await?;
        wait_ready(&format!("http://{up_listen}/"), &mut upstream, STARTUP).await?;
        let (gateway_proc, gateway, admin) = Self::spawn_gateway(
            &dir,
            gw,
            admin,
            &cp_url,
            &up_listen,
            redis_url,
            &gateway_env,
        )
        .await?;
        Ok(Stack {
            gateway,
            admin,
            database_url: database_url.to_string(),
            control_plane: cp_url,
            upstream: up_listen,
            gateway_env,
            procs: vec![upstream, control, gateway_proc],
            dir,
        })
    }

    /// Start one more gateway beside the first (same control plane,
    /// upstream and Redis); its `(base url, admin url)`.
    pub async fn add_gateway(&mut self, redis_url: &str) -> TestResult<(String, String)> {
        let control_plane = self.control_plane.clone();
        self.add_gateway_via(redis_url, &control_plane).await
    }

    /// [`Stack::add_gateway`] asking the control plane at `control_plane`
    /// (one [`Stack::add_control_plane`] started).
    pub async fn add_gateway_via(
        &mut self,
        redis_url: &str,
        control_plane: &str,
    ) -> TestResult<(String, String)> {
        let (gw, admin) = (free_port()?, free_port()?);
        let (proc, gateway, admin) = Self::spawn_gateway(
            &self.dir,
            gw,
            admin,
            control_plane,
            &self.upstream,
            redis_url,
            &self.gateway_env,
        )
        .await?;
        self.procs.push(proc);
        Ok((gateway, admin))
    }

    /// Start one more control plane on the stack's database and `redis_url`
    /// with `extra_env` (pass the first one's settings to run it alike); its
    /// `(base url, process name)`. The gateway still asks the first.
    pub async fn add_control_plane(
        &mut self,
        redis_url: &str,
        extra_env: &[(&str, &str)],
    ) -> TestResult<(String, String)> {
        let cp = free_port()?;
        let name = format!("control-plane-{cp}");
        let proc = Self::spawn_control_plane(
            &self.dir,
            &name,
            cp,
            &self.database_url,
            redis_url,
            extra_env,
        )
        .await?;
        self.procs.push(proc);
        Ok((format!("http://127.0.0.1:{cp}"), name))
    }

    /// The process named `name` (e.g. `control-plane`).
    pub fn proc(&mut self, name: &str) -> Option<&mut Proc> {
        self.procs.iter_mut().find(|p| p.name == name)
    }

    async fn spawn_control_plane(
        dir: &tempfile::TempDir,
        name: &str,
        cp: u16,
        database_url: &str,
        redis_url: &str,
        extra_env: &[(&str, &str)],
    ) -> TestResult<Proc> {
        let config = example_config().display().to_string();
        let cp_listen = format!("127.0.0.1:{cp}");
        let mut env = vec![
            ("WRNEXUS_CONTROL_PLANE__LISTEN", cp_listen.as_str()),
            ("WRNEXUS_CONTROL_PLANE__DATABASE_URL", database_url),
            // The example's owner and service roles do not exist here.
            ("WRNEXUS_CONTROL_PLANE__MIGRATE_DATABASE_URL", database_url),
            ("WRNEXUS_CONTROL_PLANE__REDIS_URL", redis_url),
            ("WRNEXUS_OPERATOR_TOKEN", OPERATOR_TOKEN),
            ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
            ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
            // The suites' Postgres databases are reached as `postgres`, a
            // superuser that row-level security does not bind: allowed here
            // explicitly (the control-plane crate's own suites connect as a
            // service role and test the refusal).
            ("WRNEXUS_CONTROL_PLANE__ALLOW_RLS_BYPASS", "true"),
        ];
        env.extend_from_slice(extra_env);
        let mut control = Proc::spawn(
            name,
            dir.path(),
            &["control-plane", "--config", &config],
            &env,
        )?;
        wait_ready(
            &format!("http://{cp_listen}/v1/health"),
            &mut control,
            STARTUP,
        )
        .await?;
        Ok(control)
    }

    /// A control plane and a gateway whose `[gateway]` section ends with
    /// `gateway_extra` (routes, trusted proxies); the apps are the caller's.
    pub async fn routed(
        database_url: &str,
        redis_url: &str,
        gateway_extra: &str,
    ) -> TestResult<Stack> {
        Self::routed_with(database_url, redis_url, gateway_extra, None).await
    }

    /// [`Stack::routed`] for a gateway serving TLS (`gateway_extra` has its
    /// `[gateway.tls]`): the gateway at `https://127.0.0.1:…`, checked with
    /// a client trusting `ca_pem`.
    pub async fn routed_tls(
        database_url: &str,
        redis_url: &str,
        gateway_extra: &str,
        ca_pem: &str,
    ) -> TestResult<Stack> {
        Self::routed_with(database_url, redis_url, gateway_extra, Some(ca_pem)).await
    }

    async fn routed_with(
        database_url: &str,
        redis_url: &str,
        gateway_extra: &str,
        ca_pem: Option<&str>,
    ) -> TestResult<Stack> {
        let dir = tempfile::tempdir()?;
        let (cp, gw, admin) = (free_port()?, free_port()?, free_port()?);
        let control =
            Self::spawn_control_plane(&dir, "control-plane", cp, database_url, redis_url, &[])
                .await?;
        let listen = format!("127.0.0.1:{gw}");
        let admin_listen = format!("127.0.0.1:{admin}");
        let file = dir.path().join("gateway.toml");
        std::fs::write(
            &file,
            format!(
                "[gateway]\nlisten = \"{listen}\"\nadmin_listen = \"{admin_listen}\"\n\
                 control_plane_url = \"http://127.0.0.1:{cp}\"\nredis_url = \"{redis_url}\"\n\
                 {gateway_extra}\n"
            ),
        )?;
        let file_arg = file.display().to_string();
        // Signing with the key the control plane publishes, as in a real
        // deployment: the apps can verify who is calling.
        let mut proc = Proc::spawn(
            &format!("gateway-{gw}"),
            dir.path(),
            &["gateway", "--config", &file_arg],
            &[
                ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
                ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
            ],
        )?;
        let admin = format!("http://{admin_listen}");
        wait_ready(&format!("{admin}/ready"), &mut proc, STARTUP).await?;
        let (gateway, client) = match ca_pem {
            Some(ca) => (format!("https://{listen}"), https_client(ca)?.build()?),
            None => (format!("http://{listen}"), reqwest::Client::new()),
        };
        let signin = format!("{gateway}/.wrnexus/signin");
        wait_ready_with(&client, &signin, &mut proc, STARTUP).await?;
        Ok(Stack {
            gateway,
            admin,
            database_url: database_url.to_string(),
            control_plane: format!("http://127.0.0.1:{cp}"),
            upstream: String::new(),
            gateway_env: Vec::new(),
            procs: vec![control, proc],
            dir,
        })
    }

    async fn spawn_gateway(
        dir: &tempfile::TempDir,
        gw: u16,
        admin: u16,
        cp_url: &str,
        up_listen: &str,
        redis_url: &str,
        extra_env: &[(String, String)],
    ) -> TestResult<(Proc, String, String)> {
        let config = example_config().display().to_string();
        let listen = format!("127.0.0.1:{gw}");
        let admin_listen = format!("127.0.0.1:{admin}");
        let upstream_url = format!("http://{up_listen}");
        let mut env: Vec<(&str, &str)> = vec![
            ("WRNEXUS_GATEWAY__LISTEN", &listen),
            ("WRNEXUS_GATEWAY__ADMIN_LISTEN", &admin_listen),
            ("WRNEXUS_GATEWAY__CONTROL_PLANE_URL", cp_url),
            ("WRNEXUS_GATEWAY__UPSTREAM", &upstream_url),
            ("WRNEXUS_GATEWAY__REDIS_URL", redis_url),
            ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
            ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
        ];
        env.extend(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut proc = Proc::spawn(
            &format!("gateway-{gw}"),
            dir.path(),
            &["gateway", "--config", &config],
            &env,
        )?;
        let admin = format!("http://{admin_listen}");
        let gateway = format!("http://{listen}");
        wait_ready(&format!("{admin}/ready"), &mut proc, STARTUP).await?;
        wait_ready(&format!("{gateway}/.wrnexus/signin"), &mut proc, STARTUP).await?;
        Ok((proc, gateway, admin))
    }

    /// Every process's log, for failure messages.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, p.output()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
