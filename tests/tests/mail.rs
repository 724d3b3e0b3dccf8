//! Mail over the real binary: `wrnexus dev` keeps outgoing mail in its dev
//! mailbox (JSON for programs, HTML for people) after sending it through
//! the outbox; with `--smtp-url` it reaches a real SMTP server as text and
//! HTML with links on the public URL; a control plane on Postgres sends
//! with an operator's templates and has no dev mailbox; `config check`
//! refuses a broken template naming its file.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use sqlx::Connection;
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, sign_up};
use wrnexus_e2e::mailbox::{self, quoted_printable, wait_for_dev_mail};
use wrnexus_e2e::process::binary;
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres};
use wrnexus_e2e::stack::Stack;
use wrnexus_testkit::smtp::{Mail, SmtpSink};

const WITHIN: Duration = Duration::from_secs(15);
const VERIFY_PATH: &str = "/.wrnexus/verify-email?token=";
const PUBLIC_URL: &str = "https://front.example.test";

/// The outbox row of the verification mail to `to`: its status, body and
/// values.
async fn outbox_row(database_url: &str, to: &str) -> TestResult<(String, String, Option<String>)> {
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(database_url).await?;
    let row: (String, String, Option<String>) = sqlx::query_as(
        "SELECT status, body, data FROM mail_outbox \
         WHERE recipient = $1 AND template = 'verify_email'",
    )
    .bind(to)
    .fetch_one(&mut db)
    .await?;
    Ok(row)
}

/// The one message `smtp` received for `to`, waiting for it.
async fn mail_to(smtp: &SmtpSink, to: &str) -> TestResult<Mail> {
    let got = smtp
        .wait_for_matching(1, WITHIN, |m| m.to.iter().any(|t| t == to))
        .await;
    got.into_iter()
        .next()
        .ok_or_else(|| format!("no mail reached {to}; received: {:?}", smtp.messages()).into())
}

/// Fail with every process's log attached.
fn with_logs<T>(stack: &Stack, result: TestResult<T>) -> TestResult<T> {
    result.map_err(|e| format!("{e}\n{}", stack.logs()).into())
}

#[tokio::test]
async fn dev_shows_the_verification_mail_in_its_mailbox() -> TestResult {
    let stack = Stack::embedded().await?;
    let result = async {
        let c = http();
        let gw = &stack.gateway;
        let email = client::email("dev-mail");
        sign_up(&c, gw, &email).await?;

        // Programs: JSON, the newest first.
        let mail = wait_for_dev_mail(&c, gw, &email, "Verify your email", WITHIN).await?;
        let id = mail["id"].as_str().ok_or("no id")?.to_string();
        let text = mail["text"].as_str().ok_or("no text")?;
        let html = mail["html"].as_str().ok_or("no html")?;
        let link = mailbox::link(text, VERIFY_PATH)?;
        // `wrnexus dev` builds links on the gateway's own URL.
        assert!(link.starts_with(&format!("{gw}{VERIFY_PATH}")), "{link}");
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(
            mail["sent_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{mail}"
        );

        // People: an HTML page with the text's link clickable and the HTML
        // body one click away.
        let page = c
            .get(format!("{gw}/.wrnexus/dev/mail"))
            .header(ACCEPT, "text/html")
            .send()
            .await?;
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            page.headers()[CONTENT_TYPE]
                .to_str()?
                .starts_with("text/html")
        );
        let page = page.text().await?;
        assert!(page.contains("Verify your email address"), "{page}");
        assert!(page.contains(&email), "{page}");
        assert!(page.contains(&format!("<a href=\"{link}\">")), "{page}");
        assert!(
            page.contains(&format!("href=\"/.wrnexus/dev/mail/{id}\"")),
            "{page}"
        );
        let body = c.get(format!("{gw}/.wrnexus/dev/mail/{id}")).send().await?;
        assert_eq!(body.status(), StatusCode::OK);
        let policy = body
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        for directive in ["sandbox", "form-action 'none'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert_eq!(body.text().await?, html);
        let missing = c.get(format!("{gw}/.wrnexus/dev/mail/nope")).send().await?;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);

        // The dev mailbox is a transport: the outbox row was sent, and
        // keeps no link (nor its token) since.
        let (status, text, data) = outbox_row(&stack.database_url, &email).await?;
        assert_eq!((status.as_str(), text.as_str(), data), ("sent", "", None));
        // The start says where mail goes.
        let out = stack.procs[0].output();
        assert!(
            out.contains(&format!(
                "Mail: kept in the dev mailbox: {gw}/.wrnexus/dev/mail"
            )),
            "{out}"
        );
        Ok(())
    }
    .await;
    with_logs(&stack, result)
}

#[tokio::test]
async fn dev_with_an_smtp_url_sends_text_and_html_with_links_on_the_public_url() -> TestResult {
    let smtp = SmtpSink::start().await?;
    let url = smtp.url();
    let stack = Stack::embedded_args(&["--smtp-url", &url, "--public-url", PUBLIC_URL]).await?;
    let result = async {
        let c = http();
        let gw = &stack.gateway;
        let email = client::email("smtp-mail");
        sign_up(&c, gw, &email).await?;
        let mail = mail_to(&smtp, &email).await?;
        let data = &mail.data;
        assert!(
            data.contains("Subject: Verify your email address"),
            "{data}"
        );
        assert!(
            data.contains("From: WRNexus <no-reply@wrnexus.invalid>"),
            "{data}"
        );
        assert!(data.contains("multipart/alternative"), "{data}");
        let decoded = quoted_printable(data);
        let (text, html) = decoded
            .split_once("Content-Type: text/html")
            .ok_or("no HTML part")?;
        assert!(text.contains("Content-Type: text/plain"), "{decoded}");
        // The link is on the public URL, in both parts, never on the Host
        // the request came in on.
        let link = mailbox::link(text, VERIFY_PATH)?;
        assert!(
            link.starts_with(&format!("{PUBLIC_URL}{VERIFY_PATH}")),
            "{link}"
        );
        assert!(html.contains(&format!("href=\"{link}\"")), "{decoded}");
        assert!(
            !decoded.contains(&format!("{gw}{VERIFY_PATH}")),
            "{decoded}"
        );
        let (status, text, data) = outbox_row(&stack.database_url, &email).await?;
        assert_eq!((status.as_str(), text.as_str(), data), ("sent", "", None));

        // Real mail: no dev mailbox.
        let r = c
            .get(format!("{gw}/.wrnexus/dev/mail"))
            .header(ACCEPT, "application/json")
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let out = stack.procs[0].output();
        assert!(out.contains(&format!("Mail: sent through {url}")), "{out}");
        Ok(())
    }
    .await;
    with_logs(&stack, result)
}

#[tokio::test]
async fn a_control_plane_sends_with_the_operators_templates_and_has_no_dev_mailbox() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let templates = dir.path().join("mail");
    std::fs::create_dir(&templates)?;
    std::fs::write(
        templates.join("verify_email.subject.txt"),
        "Welcome aboard{% if change %} again{% endif %}: one click left\n",
    )?;
    let smtp = SmtpSink::start().await?;
    let smtp_url = smtp.url();
    let templates_dir = templates.display().to_string();
    let stack = Stack::split_with_env(
        &database,
        &redis.url(),
        &[],
        &[
            ("WRNEXUS_SMTP_URL", &smtp_url),
            ("WRNEXUS_MAIL__TEMPLATES_DIR", &templates_dir),
            ("WRNEXUS_CONTROL_PLANE__PUBLIC_URL", PUBLIC_URL),
        ],
    )
    .await?;
    let result = async {
        let c = http();
        let email = client::email("operator-mail");
        sign_up(&c, &stack.gateway, &email).await?;
        let mail = mail_to(&smtp, &email).await?;
        assert!(
            mail.data
                .contains("Subject: Welcome aboard: one click left"),
            "{}",
            mail.data
        );
        // What the operator did not replace is the built-in.
        let decoded = quoted_printable(&mail.data);
        assert!(decoded.contains("Confirm that"), "{decoded}");
        assert!(
            decoded.contains(&format!("{PUBLIC_URL}{VERIFY_PATH}")),
            "{decoded}"
        );

        // Outside `wrnexus dev` the dev mailbox does not exist.
        for base in [&stack.gateway, &stack.control_plane] {
            let r = c
                .get(format!("{base}/.wrnexus/dev/mail"))
                .header(ACCEPT, "application/json")
                .send()
                .await?;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{base}");
        }
        Ok(())
    }
    .await;
    with_logs(&stack, result)
}

#[tokio::test]
async fn config_check_refuses_a_broken_mail_template_naming_its_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let templates = dir.path().join("mail");
    std::fs::create_dir(&templates)?;
    std::fs::write(
        templates.join("invitation.html"),
        "{% extends \"layout.html\" %}\n{% block content %}\n{{ workspace_nmae }}\n{% endblock %}\n",
    )?;
    let config = dir.path().join("wrnexus.toml");
    std::fs::write(
        &config,
        format!(
            "[control_plane]\nlisten = \"127.0.0.1:7070\"\n\
             database_url = \"sqlite://{}\"\n\n[mail]\ntemplates_dir = \"{}\"\n",
            dir.path().join("db.sqlite").display(),
            templates.display()
        ),
    )?;
    let out = std::process::Command::new(binary()?)
        .args(["config", "check"])
        .arg(&config)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let file = templates.join("invitation.html").display().to_string();
    assert!(stderr.contains(&format!("`{file}`:3:")), "{stderr}");
    assert!(stderr.contains("`mail.templates_dir`"), "{stderr}");

    // Fixed, the same file is valid.
    std::fs::write(
        templates.join("invitation.html"),
        "{% extends \"layout.html\" %}\n{% block content %}\n{{ workspace_name }}\n{% endblock %}\n",
    )?;
    let out = std::process::Command::new(binary()?)
        .args(["config", "check"])
        .arg(&config)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
