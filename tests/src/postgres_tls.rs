//! The suites' Postgres with TLS on. The local cluster is given a
//! certificate for `localhost` and 127.0.0.1 signed by a test CA, made once
//! and kept in the cluster's data directory (`wrnexus-test-tls/`, owned by
//! the server's user, the key 0600), so that clients can verify it with
//! `sslmode=verify-full`. Idempotent, and safe when several tests or
//! processes run it at once: the files appear in one rename, and the
//! settings are changed only when they differ. The cluster keeps accepting
//! plain connections (the `host` lines of pg_hba.conf take both), so every
//! other suite goes on as before; `ssl`, `ssl_cert_file` and `ssl_key_file`
//! stay set (in postgresql.auto.conf) for the next run.

use crate::TestResult;
use crate::certs::ServerCerts;
use crate::services::{absent, postgres_admin_url};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The directory, in the cluster's data directory, with the test CA and
/// the server's certificate and key.
const DIR: &str = "wrnexus-test-tls";

/// The suites' cluster speaking TLS with a certificate the test CA signed.
#[derive(Debug, Clone)]
pub struct TlsPostgres {
    /// The test CA, in PEM: clients verify the server with it.
    pub ca: String,
}

/// Turn TLS on in the suites' Postgres; `None` (after a loud message) when
/// Postgres is down or not on this machine, unless services are required.
pub async fn enable() -> TestResult<Option<TlsPostgres>> {
    let admin = postgres_admin_url();
    let mut conn = match PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => return absent("postgres", &e.to_string()),
    };
    let data: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(&mut conn)
        .await?;
    let data = PathBuf::from(data);
    if !data.is_dir() {
        return absent(
            "postgres with TLS",
            &format!(
                "its data directory `{}` is not on this machine",
                data.display()
            ),
        );
    }
    let dir = data.join(DIR);
    if let Err(e) = place_certificates(&data, &dir) {
        return absent(
            "postgres with TLS",
            &format!("cannot give the server a certificate: {e}"),
        );
    }
    let wanted = [
        ("ssl", "on".to_string()),
        (
            "ssl_cert_file",
            dir.join("server.pem").display().to_string(),
        ),
        ("ssl_key_file", dir.join("server.key").display().to_string()),
    ];
    let mut changed = false;
    for (name, value) in &wanted {
        let current: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {name}")))
            .fetch_one(&mut conn)
            .await?;
        if &current != value {
            let quoted = value.replace('\'', "''");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER SYSTEM SET {name} = '{quoted}'"
            )))
            .execute(&mut conn)
            .await?;
            changed = true;
        }
    }
    if changed {
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    let ca = std::fs::read_to_string(dir.join("ca.pem"))?;
    // The reload is asynchronous: wait until the server presents the
    // certificate the CA verifies.
    let verified = PgConnectOptions::from_str(&admin)?
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert_from_pem(ca.clone().into_bytes());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match PgConnection::connect_with(&verified).await {
            Ok(conn) => {
                conn.close().await?;
                return Ok(Some(TlsPostgres { ca }));
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!("postgres does not present the test certificate: {e}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Make the CA, certificate and key in `dir` unless they are there: in a
/// new directory renamed into place, so a concurrent run sees all of them
/// or none (the loser of a race uses the winner's).
fn place_certificates(data: &Path, dir: &Path) -> TestResult {
    if dir.join("server.key").is_file() {
        return Ok(());
    }
    let owner = std::fs::metadata(data)?;
    let tmp = data.join(format!("{DIR}.{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&tmp)?;
    let made = (|| -> TestResult {
        let files = ServerCerts::new("wrnexus test CA (postgres)")?.write(&tmp)?;
        for path in [&tmp, &files.ca, &files.cert, &files.key] {
            std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))?;
        }
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
        std::fs::rename(&tmp, dir)?;
        Ok(())
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if dir.join("server.key").is_file() {
            return Ok(());
        }
    }
    made
}
