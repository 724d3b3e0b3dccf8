//! `wrnexus dev --tls-cert … --tls-key …`: the embedded stack over HTTPS,
//! HTTP/1.1 and HTTP/2 (ALPN) alike, with every guarantee of plain HTTP:
//! the Secure session cookie, the header contract (spoofed identity headers
//! dropped, `X-Forwarded-Proto: https`), the canonical path, framing
//! refusals, a host named two ways refused, and sign-out reaching the next
//! request on an open HTTP/2 connection.

use reqwest::{Client, StatusCode, Version};
use serde_json::Value;
use std::process::Command;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::certs::ServerCerts;
use wrnexus_e2e::client::{User, json_body, sign_up};
use wrnexus_e2e::h2_client::{self, https_client};
use wrnexus_e2e::stack::Stack;

/// `curl` over TLS trusting `ca`, the path sent exactly as written: the
/// status and the protocol version it spoke.
fn curl(ca: &std::path::Path, http: &str, url: &str, cookie: &str) -> TestResult<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "--path-as-is", http, "--cacert"])
        .arg(ca)
        .args([
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            "Accept: application/json",
        ])
        .args(["-o", "/dev/null", "-w", "%{http_code} %{http_version}", url])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, version) = text.split_once(' ').ok_or(format!("curl said {text:?}"))?;
    Ok((code.parse()?, version.to_string()))
}

async fn echo(c: &Client, user: &User, url: &str) -> TestResult<(Version, Value)> {
    let response = user
        .req(c, reqwest::Method::GET, url)
        .header("X-User-Id", "forged")
        .header("x_workspace_id", "forged")
        .header("X.Workspace.Role", "owner")
        .header("X-Forwarded-Proto", "http")
        .send()
        .await?;
    let version = response.version();
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok((version, body))
}

#[tokio::test]
async fn dev_over_https_keeps_every_guarantee_over_http1_and_http2() -> TestResult {
    let dir = tempfile::tempdir()?;
    let certs = ServerCerts::new("wrnexus dev TLS test CA")?;
    let files = certs.write(dir.path())?;
    let stack = Stack::embedded_tls(&files).await?;
    let result = flows(&stack, &certs, &files.ca).await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    result
}

async fn flows(stack: &Stack, certs: &ServerCerts, ca: &std::path::Path) -> TestResult {
    let gw = stack.gateway.as_str();
    assert!(gw.starts_with("https://"), "{gw}");
    let h2 = https_client(&certs.ca)?.build()?;
    let h1 = https_client(&certs.ca)?.http1_only().build()?;

    // The `__Host-` cookie is Secure: a browser keeps it over HTTPS.
    let user = sign_up(&h2, gw, &wrnexus_e2e::client::email("tls")).await?;
    assert!(user.set_cookie.contains("Secure"), "{}", user.set_cookie);

    for (client, version) in [(&h1, Version::HTTP_11), (&h2, Version::HTTP_2)] {
        let (spoke, body) = echo(client, &user, &format!("{gw}/")).await?;
        assert_eq!(spoke, version);
        let headers = &body["headers"];
        assert_eq!(headers["x-user-id"], user.id.as_str(), "{body}");
        assert_eq!(headers["x-workspace-id"], user.workspace_id.as_str());
        assert_eq!(headers["x-forwarded-proto"], "https", "{body}");
        for forged in ["x_workspace_id", "x.workspace.role"] {
            assert!(
                headers.get(forged).is_none(),
                "{forged} reached the app: {body}"
            );
        }
        // The app is named the host the client asked for, over h2 too
        // (where it came as `:authority`).
        let port = gw.rsplit(':').next().unwrap_or_default();
        assert_eq!(headers["host"], format!("127.0.0.1:{port}"), "{body}");
        // The credential is consumed.
        assert!(headers.get("cookie").is_none(), "{body}");
        // No HSTS unless configured (dev does not pin browsers to HTTPS).
        let response = user
            .req(client, reqwest::Method::GET, &format!("{gw}/"))
            .send()
            .await?;
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none()
        );
    }

    // The canonical path, over both protocols, exactly as sent.
    for http in ["--http1.1", "--http2"] {
        for path in ["/a/%2e%2e/b", "/a%2fb", "/a/%252e%252e/b"] {
            let (code, version) = curl(ca, http, &format!("{gw}{path}"), &user.cookie)?;
            assert_eq!(code, 400, "{http} {path}");
            let want = if http == "--http2" { "2" } else { "1.1" };
            assert_eq!(version, want, "{http} {path}");
        }
        let (code, _) = curl(ca, http, &format!("{gw}/ok/path"), &user.cookie)?;
        assert_eq!(code, 200, "{http}");
    }

    // Raw HTTP/2: what a client library would not send.
    let addr = gw.trim_start_matches("https://");
    let mut conn = h2_client::connect(addr, "localhost", &certs.ca).await?;
    let request = |host: Option<&str>, auths: usize| -> TestResult<http::Request<()>> {
        let mut b = http::Request::get(format!("https://{addr}/"))
            .header("cookie", user.cookie.as_str())
            .header("accept", "application/json");
        if let Some(host) = host {
            b = b.header("host", host);
        }
        for i in 0..auths {
            b = b.header("authorization", format!("Bearer x{i}"));
        }
        Ok(b.body(())?)
    };
    let same = h2_client::exchange(&mut conn, request(Some(addr), 0)?, None).await?;
    assert_eq!(same.status, 200, "{}", same.text());
    let other = h2_client::exchange(&mut conn, request(Some("other.example"), 0)?, None).await?;
    // Refused before any routing (pingora's HTTP/2 layer answers a bare
    // 400 to an authority named two ways; the gateway would too).
    assert_eq!(other.status, 400, "{}", other.text());
    let body = other.text();
    assert!(
        body.is_empty() || body.contains("conflicting_host"),
        "{body}"
    );
    let twice = h2_client::exchange(&mut conn, request(None, 2)?, None).await?;
    assert_eq!(twice.status, 400);
    assert!(
        twice.text().contains("duplicate_authorization"),
        "{}",
        twice.text()
    );

    // Signing out reaches the next request on the same h2 connection.
    let response = user
        .req(
            &h2,
            reqwest::Method::POST,
            &format!("{gw}/.wrnexus/signout"),
        )
        .header("accept", "application/json")
        .send()
        .await?;
    assert!(response.status().is_success() || response.status().is_redirection());
    let after = h2_client::exchange(&mut conn, request(None, 0)?, None).await?;
    assert_eq!(after.status, 401, "{}", after.text());
    Ok(())
}
