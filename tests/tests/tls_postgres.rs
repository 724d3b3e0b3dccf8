//! Postgres over TLS, through the real binary. The suites' cluster is
//! given a certificate signed by a test CA (`postgres_tls::enable`); the
//! control plane connects with `sslmode=verify-full&sslrootcert=…` and
//! serves, every connection of it encrypted; a CA that did not sign the
//! server's certificate stops the start, naming `sslrootcert` and never the
//! password; `sslmode=require` (encrypted, not verified) carries
//! `wrnexus migrate`.

use std::path::{Path, PathBuf};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::certs::unrelated_ca;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::postgres_tls;
use wrnexus_e2e::process::{Proc, free_port, wait_ready};
use wrnexus_e2e::services::{fresh_postgres, postgres_admin_url};

/// A password the server ignores (trust authentication) and that no
/// message may show.
const PASSWORD: &str = "Never-Shown-7f3a";

/// A config file with a `[control_plane]` on `database_url`.
fn control_plane_config(
    dir: &Path,
    name: &str,
    listen: &str,
    database_url: &str,
) -> TestResult<PathBuf> {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "[control_plane]\nlisten = \"{listen}\"\ndatabase_url = \"{database_url}\"\n\
             # The suites reach Postgres as `postgres`, whom row-level security does not bind.\n\
             allow_rls_bypass = true\nwebhooks_enabled = false\n"
        ),
    )?;
    Ok(file)
}

/// Run `wrnexus args` to its end: success and output.
fn run(dir: &Path, name: &str, args: &[&str]) -> TestResult<(bool, String)> {
    let mut proc = Proc::spawn(name, dir, args, &[])?;
    let status = proc.wait_exit(Duration::from_secs(60))?;
    Ok((status.success(), proc.output()))
}

/// Connections to `database`: `(encrypted, plain)`.
async fn connections(database: &str) -> TestResult<(i64, i64)> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&mut admin)
    .await?;
    admin.close().await?;
    Ok(counts)
}

#[tokio::test]
async fn the_control_plane_reaches_postgres_over_verified_tls() -> TestResult {
    let Some(tls) = postgres_tls::enable().await? else {
        return Ok(());
    };
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let name = database
        .rsplit('/')
        .next()
        .ok_or("no database name")?
        .to_string();
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &tls.ca)?;
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, unrelated_ca()?)?;
    let with_password = database.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let url = |query: String| format!("{with_password}?{query}");

    // Encrypted but not verified: `wrnexus migrate` applies the migrations.
    let file = control_plane_config(
        dir.path(),
        "require",
        "127.0.0.1:1",
        &url("sslmode=require".into()),
    )?;
    let (ok, out) = run(
        dir.path(),
        "migrate",
        &["migrate", "--config", &file.display().to_string()],
    )?;
    assert!(ok && out.contains("migrations applied"), "{out}");

    // Verified against the test CA, host name included: `config check`
    // accepts it, and the control plane starts and serves.
    let listen = format!("127.0.0.1:{}", free_port()?);
    let verified = url(format!("sslmode=verify-full&sslrootcert={}", ca.display()));
    let file = control_plane_config(dir.path(), "verify-full", &listen, &verified)?;
    let file_arg = file.display().to_string();
    let (ok, out) = run(dir.path(), "check", &["config", "check", &file_arg])?;
    assert!(ok, "{out}");
    let mut control = Proc::spawn(
        "control-plane",
        dir.path(),
        &["control-plane", "--config", &file_arg],
        &[],
    )?;
    wait_ready(
        &format!("http://{listen}/v1/health"),
        &mut control,
        Duration::from_secs(60),
    )
    .await?;
    let c = http();
    let alice = sign_up(&c, &format!("http://{listen}"), &client::email("alice")).await;
    assert!(alice.is_ok(), "{alice:?}\n{}", control.output());
    let (encrypted, plain) = connections(&name).await?;
    assert!(
        encrypted >= 1 && plain == 0,
        "{encrypted} encrypted and {plain} plain connections"
    );
    assert!(!control.output().contains(PASSWORD), "{}", control.output());
    drop(control);

    // A CA that did not sign the server's certificate: no start, the
    // setting named, the password never shown.
    let file = control_plane_config(
        dir.path(),
        "other-ca",
        &format!("127.0.0.1:{}", free_port()?),
        &url(format!(
            "sslmode=verify-full&sslrootcert={}",
            other.display()
        )),
    )?;
    let (ok, out) = run(
        dir.path(),
        "control-plane-other-ca",
        &["control-plane", "--config", &file.display().to_string()],
    )?;
    assert!(
        !ok,
        "started with a CA that did not sign the server's certificate:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "the server's certificate does not verify against `sslrootcert` (`{}`) with sslmode=verify-full",
            other.display()
        )),
        "{out}"
    );
    assert!(!out.contains(PASSWORD), "{out}");
    eprintln!("refused as it should be:\n{out}");
    Ok(())
}

#[tokio::test]
async fn turning_tls_on_is_idempotent_and_safe_at_once() -> TestResult {
    let (a, b, c) = tokio::join!(
        postgres_tls::enable(),
        postgres_tls::enable(),
        postgres_tls::enable()
    );
    let (Some(a), Some(b), Some(c)) = (a?, b?, c?) else {
        return Ok(());
    };
    assert!(a.ca == b.ca && b.ca == c.ca, "three runs, more than one CA");
    // Plain connections are still accepted: the other suites need them.
    use sqlx::Connection;
    let plain = format!("{}?sslmode=disable", postgres_admin_url());
    let mut conn = sqlx::PgConnection::connect(&plain).await?;
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await?;
    assert!(!ssl);
    conn.close().await?;
    Ok(())
}
