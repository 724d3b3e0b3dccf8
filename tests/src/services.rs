//! Postgres and Redis for the suites. Absent services skip loudly, unless
//! `WRNEXUS_REQUIRE_SERVICES=1`, where they fail.

use crate::TestResult;
use crate::certs::CertFiles;
use sqlx::Connection;

/// Admin URL of the Postgres server (trust auth).
pub fn postgres_admin_url() -> String {
    std::env::var("WRNEXUS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

pub fn redis_url() -> String {
    std::env::var("WRNEXUS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

fn required() -> bool {
    std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `Ok(None)` (after a loud message) when the service is down and not
/// required; an error when it is required.
pub fn absent<T>(service: &str, why: &str) -> TestResult<Option<T>> {
    if required() {
        Err(
            format!("{service} is required (WRNEXUS_REQUIRE_SERVICES=1) but unavailable: {why}")
                .into(),
        )
    } else {
        eprintln!(
            "\n!!! SKIPPING: {service} unavailable ({why}); set WRNEXUS_REQUIRE_SERVICES=1 to make this a failure !!!\n"
        );
        Ok(None)
    }
}

/// A new, empty database; its URL.
pub async fn fresh_postgres() -> TestResult<Option<String>> {
    sqlx::any::install_default_drivers();
    let admin = postgres_admin_url();
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => return absent("postgres", &e.to_string()),
    };
    let name = format!("wrnexus_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok(Some(format!("{base}/{name}")))
}

/// A Redis connection, or a loud skip.
pub async fn redis() -> TestResult<Option<redis::aio::MultiplexedConnection>> {
    let client = redis::Client::open(redis_url())?;
    match client.get_multiplexed_async_connection().await {
        Ok(mut conn) => {
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
            match pong {
                Ok(_) => Ok(Some(conn)),
                Err(e) => absent("redis", &e.to_string()),
            }
        }
        Err(e) => absent("redis", &e.to_string()),
    }
}

/// A private `redis-server` on a free port, so a test may kill and restart
/// it without disturbing anything else; `None` (after a loud message) when
/// the binary is missing, unless services are required.
pub struct PrivateRedis {
    pub port: u16,
    dir: std::path::PathBuf,
    /// Speaking only TLS, with this certificate.
    tls: Option<CertFiles>,
    proc: Option<crate::process::Proc>,
}

impl PrivateRedis {
    pub async fn start(dir: &std::path::Path) -> TestResult<Option<Self>> {
        Self::start_with(dir, None).await
    }

    /// A private `redis-server` that speaks only TLS (`rediss://`, no plain
    /// port), presenting `files.cert`; clients show no certificate.
    pub async fn start_tls(dir: &std::path::Path, files: &CertFiles) -> TestResult<Option<Self>> {
        Self::start_with(dir, Some(files.clone())).await
    }

    async fn start_with(dir: &std::path::Path, tls: Option<CertFiles>) -> TestResult<Option<Self>> {
        let Some(program) = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
        else {
            return absent("redis-server", "no redis-server binary");
        };
        let mut redis = PrivateRedis {
            port: crate::process::free_port()?,
            dir: dir.to_path_buf(),
            tls,
            proc: None,
        };
        redis.spawn(&program).await?;
        Ok(Some(redis))
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("rediss://127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// A client of this server, trusting its CA when it speaks TLS.
    pub fn client(&self) -> TestResult<redis::Client> {
        // redis asks rustls for the process's provider; the build links two.
        crate::h2_client::install_crypto_provider();
        Ok(match &self.tls {
            Some(files) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(&files.ca)?),
                },
            )?,
            None => redis::Client::open(self.url())?,
        })
    }

    async fn spawn(&mut self, program: &std::path::Path) -> TestResult {
        let port = self.port.to_string();
        let dir = self.dir.display().to_string();
        let mut args: Vec<String> = match &self.tls {
            Some(files) => vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.clone(),
                "--tls-cert-file".into(),
                files.cert.display().to_string(),
                "--tls-key-file".into(),
                files.key.display().to_string(),
                "--tls-ca-cert-file".into(),
                files.ca.display().to_string(),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
            None => vec!["--port".into(), port.clone()],
        };
        for arg in [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir,
        ] {
            args.push(arg.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = crate::process::Proc::spawn_program(
            program,
            &format!("redis-{port}"),
            &self.dir,
            &args,
            &[],
        )?;
        self.proc = Some(proc);
        let client = self.client()?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                let log = self.proc.as_ref().map(|p| p.output()).unwrap_or_default();
                return Err(format!("private redis-server did not start:\n{log}").into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Kill it (everything in it is lost, as after a crash).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Stop it answering without closing anything (SIGSTOP), as a network
    /// partition would; [`PrivateRedis::resume`] lets it run on.
    pub fn pause(&self) -> TestResult {
        self.proc.as_ref().ok_or("redis is not running")?.pause()
    }

    pub fn resume(&self) -> TestResult {
        self.proc.as_ref().ok_or("redis is not running")?.resume()
    }

    /// Start it again on the same port, empty.
    pub async fn restart(&mut self) -> TestResult {
        let program = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
            .ok_or("no redis-server binary")?;
        self.spawn(&program).await
    }
}
