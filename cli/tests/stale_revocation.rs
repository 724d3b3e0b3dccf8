//! A gateway with no invalidation source (no Redis; not `wrnexus dev`)
//! would serve revoked access until its cache expires: it refuses to start,
//! and `config check` refuses the file, unless the config accepts that
//! delay with `allow_stale_revocation = true`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A stand-in control plane that answers every request with a key set.
fn fake_control_plane() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            // RFC 8037's example Ed25519 public key.
            let body = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(port)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether `GET /live` on the admin listener answers 200.
fn live(admin: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", admin)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[test]
fn a_gateway_without_invalidations_starts_only_when_told_revocation_may_wait() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cp = fake_control_plane()?;
    let (listen, admin) = (free_port()?, free_port()?);
    let base = format!(
        "[gateway]\nlisten = \"127.0.0.1:{listen}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
         control_plane_url = \"http://127.0.0.1:{cp}\"\nupstream = \"http://127.0.0.1:{cp}\"\n"
    );
    let file = dir.path().join("wrnexus.toml");
    let file_arg = file.display().to_string();
    let wrnexus = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wrnexus"));
        c.env_remove("WRNEXUS_CONFIG")
            .env_remove("WRNEXUS_GATEWAY__REDIS_URL")
            .env_remove("WRNEXUS_GATEWAY__ALLOW_STALE_REVOCATION");
        c
    };

    std::fs::write(&file, &base)?;
    for args in [
        vec!["config", "check", &file_arg],
        vec!["gateway", "--config", &file_arg],
    ] {
        let out = wrnexus().args(&args).output()?;
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let message = text(&out);
        for part in [
            "no invalidation source",
            "`redis_url`",
            "allow_stale_revocation = true",
        ] {
            assert!(message.contains(part), "{args:?}: {part}: {message}");
        }
    }

    std::fs::write(&file, format!("{base}allow_stale_revocation = true\n"))?;
    let out = wrnexus().args(["config", "check", &file_arg]).output()?;
    assert!(out.status.success(), "{}", text(&out));
    let mut gateway = wrnexus()
        .args(["gateway", "--config", &file_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = loop {
        if live(admin) {
            break true;
        }
        if Instant::now() > deadline || gateway.try_wait()?.is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = gateway.kill();
    let _ = gateway.wait();
    assert!(started, "the gateway did not start with the key set");
    Ok(())
}
