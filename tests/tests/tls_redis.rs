//! Redis over TLS, through the real binary: a `redis-server` that speaks
//! only TLS, with a certificate a test CA signed. The control plane and the
//! gateway reach it as `rediss://` with `redis_ca_file`, and a removal
//! still reaches the gateway within a second; a CA that did not sign the
//! server's certificate, the system's trust store alone, or `#insecure`
//! stops the start.

use reqwest::{Method, StatusCode};
use std::path::Path;
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::certs::{ServerCerts, unrelated_ca};
use wrnexus_e2e::client::until;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::process::{Proc, free_port};
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres};
use wrnexus_e2e::stack::Stack;

/// A password Redis never sees (the handshake fails first) and no message
/// may show.
const PASSWORD: &str = "Never-Shown-91c2";

#[tokio::test]
async fn a_removal_reaches_the_gateway_over_redis_tls() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let files = ServerCerts::new("wrnexus test CA (redis)")?.write(dir.path())?;
    let Some(redis) = PrivateRedis::start_tls(dir.path(), &files).await? else {
        return Ok(());
    };
    let ca = files.ca.display().to_string();
    let stack = Stack::split_with_env(
        &database,
        &redis.url(),
        &[("WRNEXUS_GATEWAY__REDIS_CA_FILE", &ca)],
        &[("WRNEXUS_CONTROL_PLANE__REDIS_CA_FILE", &ca)],
    )
    .await?;
    let result = async {
        let gw = stack.gateway.clone();
        let c = http();
        let alice = sign_up(&c, &gw, &client::email("alice")).await?;
        let mut bob = sign_up(&c, &gw, &client::email("bob")).await?;
        client::join(&c, &gw, &alice, &mut bob, &alice.workspace_id, "member").await?;
        let doc = format!("{gw}/doc");
        until(&c, &bob, &doc, StatusCode::OK, Duration::from_secs(2)).await?;
        let r = alice
            .req(
                &c,
                Method::DELETE,
                &format!(
                    "{gw}/.wrnexus/api/v1/workspaces/{}/members/{}",
                    alice.workspace_id, bob.id
                ),
            )
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        let took = until(
            &c,
            &bob,
            &doc,
            StatusCode::FORBIDDEN,
            Duration::from_secs(1),
        )
        .await?;
        eprintln!("removal seen over redis TLS after {took:?}");
        // It came over the TLS Redis: the gateway measured the lag of an
        // invalidation from there, and the entries are stored in it.
        let metrics = c
            .get(format!("{}/metrics", stack.admin))
            .send()
            .await?
            .text()
            .await?;
        let count = metrics
            .lines()
            .find(|l| {
                l.starts_with("wrnexus_gateway_invalidation_lag_seconds_count{bus=\"redis\"}")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(count >= 1.0, "no invalidation from redis:\n{metrics}");
        let mut conn = redis.client()?.get_multiplexed_async_connection().await?;
        let key = format!("wrnexus:{{u:{}}}:member:{}", bob.id, alice.workspace_id);
        let entry: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        assert!(entry.is_some(), "no entry `{key}` in the TLS redis");
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

/// Start `wrnexus role --config FILE` (`config check FILE` for `config`)
/// with `toml` as the file; it must stop at once: its output.
fn refused(dir: &Path, role: &str, name: &str, toml: &str) -> TestResult<String> {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml)?;
    let file = file.display().to_string();
    let args = match role {
        "config" => ["config", "check", &file],
        _ => [role, "--config", &file],
    };
    let mut proc = Proc::spawn(&format!("{name}-{role}"), dir, &args, &[])?;
    let status = proc.wait_exit(Duration::from_secs(30))?;
    let out = proc.output();
    assert!(!status.success(), "{name} started:\n{out}");
    assert!(!out.contains(PASSWORD), "{out}");
    Ok(out)
}

#[tokio::test]
async fn a_wrong_ca_or_insecure_redis_tls_stops_the_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let files = ServerCerts::new("wrnexus test CA (redis)")?.write(dir.path())?;
    let Some(redis) = PrivateRedis::start_tls(dir.path(), &files).await? else {
        return Ok(());
    };
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, unrelated_ca()?)?;
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let shown = format!("rediss://***@127.0.0.1:{}", redis.port);
    let gateway = |redis_lines: &str| -> TestResult<String> {
        Ok(format!(
            "[gateway]\nlisten = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\n\
             control_plane_url = \"http://127.0.0.1:{}\"\nupstream = \"http://127.0.0.1:{}\"\n{redis_lines}\n",
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?
        ))
    };
    let wrong = format!(
        "redis_url = \"{url}\"\nredis_ca_file = \"{}\"",
        other.display()
    );
    let verdict = format!(
        "redis at `{shown}`: the server's certificate does not verify against `redis_ca_file` (`{}`): invalid peer certificate: UnknownIssuer",
        other.display()
    );

    let out = refused(dir.path(), "gateway", "gateway-other-ca", &gateway(&wrong)?)?;
    assert!(
        out.contains(&format!("[gateway] `redis_ca_file`: {verdict}")),
        "{out}"
    );
    eprintln!("gateway refused as it should be:\n{out}");

    let out = refused(
        dir.path(),
        "gateway",
        "gateway-system-roots",
        &gateway(&format!("redis_url = \"{url}\""))?,
    )?;
    assert!(
        out.contains("does not verify against the system's trust store"),
        "{out}"
    );

    let out = refused(
        dir.path(),
        "gateway",
        "gateway-insecure",
        &gateway(&format!("redis_url = \"{url}/#insecure\""))?,
    )?;
    let insecure = format!(
        "gateway-insecure.toml:6: `gateway.redis_url`: `{shown}/#insecure` asks for `#insecure`"
    );
    assert!(out.contains(&insecure), "{out}");
    // `config check` says the same without starting anything.
    let out = refused(
        dir.path(),
        "config",
        "gateway-insecure",
        &gateway(&format!("redis_url = \"{url}/#insecure\""))?,
    )?;
    assert!(out.contains(&insecure), "{out}");

    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cp.sqlite").display()
    );
    let control_plane = format!(
        "[control_plane]\nlisten = \"127.0.0.1:{}\"\ndatabase_url = \"{database}\"\n{wrong}\n",
        free_port()?
    );
    let out = refused(
        dir.path(),
        "control-plane",
        "control-plane-other-ca",
        &control_plane,
    )?;
    assert!(
        out.contains(&format!("[control_plane] `redis_ca_file`: {verdict}")),
        "{out}"
    );
    eprintln!("control plane refused as it should be:\n{out}");
    Ok(())
}
