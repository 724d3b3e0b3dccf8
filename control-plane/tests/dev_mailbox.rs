//! The dev mailbox over HTTP: shown to a client on this machine, not found
//! for one elsewhere (as a trusted proxy reports it), and its HTML bodies
//! served sandboxed.

mod common;

use common::TestResult;
use common::http::{Api, config};
use reqwest::StatusCode;
use wrnexus_control_plane::api::forwarded::TrustedProxies;
use wrnexus_control_plane::mail::dev_mailbox::{DevMail, DevMailbox};

/// A control plane with a dev mailbox holding one message, trusting
/// `proxies`.
async fn with_mail(proxies: TrustedProxies) -> TestResult<(Api, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut c = config(
        &wrnexus_control_plane::store::sqlite_url(&dir.path().join("t.sqlite")),
        None,
    );
    let mailbox = DevMailbox::new();
    mailbox.deliver(DevMail {
        id: "m1".into(),
        to: "ann@example.com".into(),
        subject: "Reset your password".into(),
        text: "https://front.example.test/.wrnexus/reset-password?token=secret".into(),
        html: "<p>Reset</p>".into(),
        sent_at: "2026-12-05T12:00:00Z".into(),
    });
    c.mail.dev_mailbox = Some(mailbox);
    c.trusted_proxies = proxies;
    Ok((Api::start(c).await?, dir))
}

#[tokio::test]
async fn only_this_machine_sees_the_dev_mailbox() -> TestResult {
    let (api, _dir) = with_mail(TrustedProxies::loopback()).await?;
    for path in ["/.wrnexus/dev/mail", "/.wrnexus/dev/mail/m1"] {
        let here = api.http.get(format!("{}{path}", api.base)).send().await?;
        assert_eq!(here.status(), StatusCode::OK, "{path}");
        // Behind a trusted gateway, the client is who it reports.
        let afar = api
            .http
            .get(format!("{}{path}", api.base))
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await?;
        assert_eq!(afar.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!afar.text().await?.contains("secret"));
        let local = api
            .http
            .get(format!("{}{path}", api.base))
            .header("x-forwarded-for", "127.0.0.1")
            .send()
            .await?;
        assert_eq!(local.status(), StatusCode::OK, "{path}");
    }
    let body = api
        .http
        .get(format!("{}/.wrnexus/dev/mail/m1", api.base))
        .send()
        .await?;
    let policy = body
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    for directive in [
        "sandbox",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }

    // A peer nobody trusts speaks for itself: its header changes nothing.
    let (api, _dir) = with_mail(TrustedProxies::none()).await?;
    let spoofed = api
        .http
        .get(format!("{}/.wrnexus/dev/mail", api.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await?;
    assert_eq!(spoofed.status(), StatusCode::OK);
    Ok(())
}
