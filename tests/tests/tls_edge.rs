//! The gateway terminating TLS in front of apps: certificates chosen by
//! SNI, TLS 1.2 and 1.3 only, HTTP/2 by ALPN, HSTS, the plain listener's
//! 308 to HTTPS with ACME challenges served from a webroot, streamed
//! bodies over HTTP/2, a WebSocket over TLS cut on sign-out, and the
//! certificate replaced under traffic (on file change, and on SIGHUP)
//! without a failed request or a dropped connection.

use axum::Router;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Client, StatusCode, Version};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::certs::ServerCerts;
use wrnexus_e2e::client::{User, email, json_body, sign_up};
use wrnexus_e2e::h2_client::{self, https_client};
use wrnexus_e2e::process::free_port;
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// The certificates of one test: `main` (CA 1, `localhost` and
/// 127.0.0.1), `named` (CA 2, `app.test` and `*.apps.test`), and the
/// renewal of `main` by CA 3.
struct Certs {
    main: ServerCerts,
    named: ServerCerts,
    renewed: ServerCerts,
}

fn write(dir: &Path, name: &str, certs: &ServerCerts) -> TestResult<(String, String)> {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, &certs.cert)?;
    std::fs::write(&key, &certs.key)?;
    Ok((cert.display().to_string(), key.display().to_string()))
}

#[tokio::test]
async fn a_tls_gateway_serves_by_name_redirects_and_renews_under_traffic() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let certs = Certs {
        main: ServerCerts::new("wrnexus edge CA 1")?,
        named: ServerCerts::for_names("wrnexus edge CA 2", &["app.test", "*.apps.test"])?,
        renewed: ServerCerts::new("wrnexus edge CA 3")?,
    };
    let (main_cert, main_key) = write(dir.path(), "main", &certs.main)?;
    let (named_cert, named_key) = write(dir.path(), "named", &certs.named)?;
    let webroot = dir.path().join("acme");
    std::fs::create_dir_all(webroot.join(".well-known/acme-challenge"))?;
    std::fs::write(
        webroot.join(".well-known/acme-challenge/tok-EN_123"),
        "tok-EN_123.key-authorization",
    )?;
    let redirect_port = free_port()?;
    let router = Router::new().route("/app/stream", axum::routing::post(apps::stream_back));
    let (app, app_port) = apps::serve(App::new("app"), router).await?;
    let ws_port = apps::ws_echo().await?;
    let extra = format!(
        r#"
[[gateway.routes]]
name = "app"
path_prefix = "/app"
upstream = "http://127.0.0.1:{app_port}"

[[gateway.routes]]
name = "ws"
path_prefix = "/ws"
upstream = "http://127.0.0.1:{ws_port}"

[gateway.tls]
cert_file = "{main_cert}"
key_file = "{main_key}"
certificates = [{{ cert_file = "{named_cert}", key_file = "{named_key}" }}]
hsts_max_age_secs = "10m"
hsts_include_subdomains = true
redirect_listen = "127.0.0.1:{redirect_port}"
acme_webroot = "{webroot}"
reload_poll_ms = 100
"#,
        webroot = webroot.display()
    );
    let mut stack = Stack::routed_tls(
        &database_url,
        &services::redis_url(),
        &extra,
        &certs.main.ca,
    )
    .await?;
    let result = flows(&mut stack, &certs, dir.path(), redirect_port, &app).await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    result
}

async fn flows(
    stack: &mut Stack,
    certs: &Certs,
    dir: &Path,
    redirect_port: u16,
    app: &App,
) -> TestResult {
    let gw = stack.gateway.clone();
    let addr: std::net::SocketAddr = gw.trim_start_matches("https://").parse()?;
    let port = addr.port();
    let c = https_client(&certs.main.ca)?.build()?;
    let user = sign_up(&c, &gw, &email("edge")).await?;

    // HSTS on the app's answers and on the gateway's own.
    let response = user
        .req(&c, reqwest::Method::GET, &format!("{gw}/app/x"))
        .send()
        .await?;
    assert_eq!(response.version(), Version::HTTP_2);
    let hsts = "max-age=600; includeSubDomains";
    assert_eq!(response.headers()["strict-transport-security"], hsts);
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["headers"]["x-forwarded-proto"], "https");
    let refused = c
        .get(format!("{gw}/app/x"))
        .header("accept", "application/json")
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["strict-transport-security"], hsts);

    sni(certs, addr).await?;
    versions(port)?;
    redirects(redirect_port, port).await?;
    streaming(&gw, &certs.main.ca, &user, app).await?;
    renewal(stack, certs, dir, &gw).await?;
    websocket_cut(&gw, &certs.renewed.ca, &user).await
}

/// The certificate is the one naming the host asked for.
async fn sni(certs: &Certs, addr: std::net::SocketAddr) -> TestResult {
    let port = addr.port();
    let named = https_client(&certs.named.ca)?
        .resolve("app.test", addr)
        .resolve("one.apps.test", addr)
        .resolve("localhost", addr)
        .build()?;
    for host in ["app.test", "one.apps.test"] {
        let response = named
            .get(format!("https://{host}:{port}/.wrnexus/signin"))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    // `localhost` is served the first certificate, which CA 2 did not sign.
    assert!(
        named
            .get(format!("https://localhost:{port}/.wrnexus/signin"))
            .send()
            .await
            .is_err()
    );
    Ok(())
}

/// `openssl s_client` offering one protocol version: whether it connected.
fn handshakes(port: u16, flag: &str) -> TestResult<bool> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), flag])
        // Let OpenSSL itself offer the old versions.
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(std::process::Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(out.status.success() && text.contains("Cipher is") && !text.contains("Cipher is (NONE)"))
}

/// TLS 1.2 and 1.3 only; HTTP/1.1 and h2 both by ALPN.
fn versions(port: u16) -> TestResult {
    assert!(handshakes(port, "-tls1_3")?);
    assert!(handshakes(port, "-tls1_2")?);
    assert!(!handshakes(port, "-tls1_1")?);
    assert!(!handshakes(port, "-tls1")?);
    Ok(())
}

/// The plain listener: 308 to the same URL over HTTPS, ACME challenges
/// from the webroot.
async fn redirects(redirect_port: u16, https_port: u16) -> TestResult {
    let plain = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://127.0.0.1:{redirect_port}");
    let response = plain
        .post(format!("{base}/app/x?q=1&r=%20"))
        .header("host", "app.test")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        format!("https://app.test:{https_port}/app/x?q=1&r=%20").as_str()
    );
    let challenge = plain
        .get(format!("{base}/.well-known/acme-challenge/tok-EN_123"))
        .send()
        .await?;
    assert_eq!(challenge.status(), StatusCode::OK);
    assert_eq!(challenge.text().await?, "tok-EN_123.key-authorization");
    for missing in ["nope", "..%2f..%2fetc%2fpasswd"] {
        let response = plain
            .get(format!("{base}/.well-known/acme-challenge/{missing}"))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    Ok(())
}

/// A request body streams through over h2: the first chunk comes back
/// before the rest is sent.
async fn streaming(gw: &str, ca: &str, user: &User, app: &App) -> TestResult {
    let addr = gw.trim_start_matches("https://");
    let conn = h2_client::connect(addr, "localhost", ca).await?;
    let mut ready = conn.ready().await?;
    let request = http::Request::post(format!("https://{addr}/app/stream"))
        .header("cookie", user.cookie.as_str())
        .header("accept", "application/json")
        .body(())?;
    let before = app.hits();
    let (response, mut send) = ready.send_request(request, false)?;
    send.send_data(Bytes::from_static(b"first"), false)?;
    let response = tokio::time::timeout(Duration::from_secs(10), response).await??;
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.data())
        .await?
        .ok_or("no first chunk")??;
    assert_eq!(&first[..], b"first");
    send.send_data(Bytes::from_static(b"second"), true)?;
    let mut rest = Vec::new();
    while let Some(chunk) = body.data().await {
        rest.extend_from_slice(&chunk?);
    }
    assert_eq!(rest, b"second");
    assert_eq!(app.hits(), before + 1);
    Ok(())
}

/// The main certificate renewed (by another CA) while requests keep
/// coming, each on a new connection, and one HTTP/2 connection stays
/// open: no request fails, the open connection lives on, new handshakes
/// get the new certificate; then SIGHUP reloads at once.
async fn renewal(stack: &mut Stack, certs: &Certs, dir: &Path, gw: &str) -> TestResult {
    let both = https_client(&certs.main.ca)?
        .tls_certs_only([
            reqwest::Certificate::from_pem(certs.main.ca.as_bytes())?,
            reqwest::Certificate::from_pem(certs.renewed.ca.as_bytes())?,
        ])
        .pool_max_idle_per_host(0)
        .build()?;
    let addr = gw.trim_start_matches("https://");
    let mut kept = h2_client::connect(addr, "localhost", &certs.main.ca).await?;
    let signin = || {
        http::Request::get(format!("https://{addr}/.wrnexus/signin"))
            .body(())
            .map_err(|e| e.to_string())
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let traffic = {
        let (stop, ok, failed, url) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            format!("{gw}/.wrnexus/signin"),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match both.get(&url).send().await {
                    Ok(r) if r.status() == StatusCode::OK => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Renewed the way ACME clients do: the new files written in place.
    write(dir, "main", &certs.renewed)?;
    let only_new = https_client(&certs.renewed.ca)?
        .pool_max_idle_per_host(0)
        .build()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let url = format!("{gw}/.wrnexus/signin");
        if only_new
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err("the renewed certificate was never served".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    traffic.await?;
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the renewal"
    );
    assert!(ok.load(Ordering::SeqCst) > 10, "too little traffic to tell");
    // The connection opened before the renewal still serves.
    let still = h2_client::exchange(&mut kept, signin()?, None).await?;
    assert_eq!(still.status, 200);

    let metrics = |admin: String| async move {
        let text = reqwest::get(format!("{admin}/metrics"))
            .await?
            .text()
            .await?;
        let n = text
            .lines()
            .find(|l| l.starts_with("wrnexus_gateway_tls_reloads_total{result=\"ok\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("no reload count")?;
        TestResult::Ok(n)
    };
    let before = metrics(stack.admin.clone()).await?;
    assert!(before >= 1);
    let name = stack
        .procs
        .last()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    stack.proc(&name).ok_or("no gateway process")?.hangup()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metrics(stack.admin.clone()).await? == before {
        if std::time::Instant::now() > deadline {
            return Err("SIGHUP did not reload the certificates".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A WebSocket over TLS (HTTP/1.1 by ALPN) echoes, and closes when its
/// session is signed out.
async fn websocket_cut(gw: &str, ca: &str, user: &User) -> TestResult {
    let addr = gw.trim_start_matches("https://");
    let config = h2_client::tls_config(ca, &[b"http/1.1"])?;
    let tcp = TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")?,
            tcp,
        )
        .await?;
    let mut request = format!("wss://{addr}/ws/echo").into_client_request()?;
    request.headers_mut().insert("cookie", user.cookie.parse()?);
    let (mut ws, response) = tokio_tungstenite::client_async(request, tls).await?;
    assert_eq!(response.status().as_u16(), 101);
    ws.send(Message::text("over tls")).await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await?
        .ok_or("the socket closed")??;
    assert_eq!(reply.into_text()?.as_str(), "over tls");
    let c2 = https_client(ca)?.build()?;
    let out = user
        .req(
            &c2,
            reqwest::Method::POST,
            &format!("{gw}/.wrnexus/signout"),
        )
        .header("accept", "application/json")
        .send()
        .await?;
    assert!(out.status().is_success() || out.status().is_redirection());
    // Within a second the socket is closed (a message may still be in flight).
    let closed = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let _ = ws.send(Message::text("still there?")).await;
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the WebSocket outlived its session by a second"
    );
    Ok(())
}
