//! The `[mail]` section's settings, read from whole files.

use crate::settings::Settings;
use wrnexus_control_plane::mail::MailConfig;

const CONTROL_PLANE: &str =
    "[control_plane]\nlisten = \"127.0.0.1:7070\"\ndatabase_url = \"sqlite://x.db\"\n";

fn parse(text: &str) -> Settings {
    Settings::parse_with_env(text, "t.toml", []).unwrap()
}

fn mail(s: &Settings, env: Option<String>) -> anyhow::Result<MailConfig> {
    s.mail.config(&s.billing, &s.sources, env)
}

#[test]
fn the_mail_section_reaches_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invitation.subject.txt"),
        "Come to {{ workspace_name }}",
    )
    .unwrap();
    let text = format!(
        "{CONTROL_PLANE}[mail]\nsmtp_url = \"smtp://127.0.0.1:2525\"\n\
         from = \"Acme <no-reply@acme.example>\"\ntemplates_dir = \"{}\"\nworker = false\n\
         max_attempts = 3\nbackoff_base_secs = \"2s\"\n",
        dir.path().display()
    );
    let (_, c) = parse(&text).control_plane().unwrap();
    assert_eq!(c.mail.smtp_url.as_deref(), Some("smtp://127.0.0.1:2525"));
    assert_eq!(c.mail.from, "Acme <no-reply@acme.example>");
    assert!(!c.mail.worker_enabled);
    assert_eq!(c.mail.max_attempts, 3);
    assert_eq!(c.mail.backoff_base, std::time::Duration::from_secs(2));
    assert!(
        c.mail
            .templates
            .sources()
            .any(|p| p.starts_with(dir.path()))
    );
}

#[test]
fn the_environment_url_wins_and_defaults_hold() {
    let s = parse(&format!(
        "{CONTROL_PLANE}[mail]\nsmtp_url = \"smtp://file:25\"\n"
    ));
    let c = mail(&s, Some("smtps://u:p@env:465".into())).unwrap();
    assert_eq!(c.smtp_url.as_deref(), Some("smtps://u:p@env:465"));
    assert_eq!(
        s.mail.locate_smtp_url(&s.sources, Some("x")),
        "environment variable `WRNEXUS_SMTP_URL`"
    );
    let c = mail(&parse(CONTROL_PLANE), None).unwrap();
    assert_eq!(c.smtp_url, None);
    assert!(c.worker_enabled);
    assert_eq!(c.from, wrnexus_control_plane::mail::config::DEFAULT_FROM);
}

#[test]
fn the_older_billing_spellings_are_read_but_not_beside_the_new() {
    let s = parse(&format!(
        "{CONTROL_PLANE}[billing]\nsmtp_url = \"smtp://old:25\"\nmail_from = \"Old <o@example.com>\"\n"
    ));
    let c = mail(&s, None).unwrap();
    assert_eq!(c.smtp_url.as_deref(), Some("smtp://old:25"));
    assert_eq!(c.from, "Old <o@example.com>");

    let s = parse(&format!(
        "{CONTROL_PLANE}[billing]\nsmtp_url = \"smtp://old:25\"\n[mail]\nsmtp_url = \"smtp://new:25\"\n"
    ));
    let err = format!("{:#}", mail(&s, None).unwrap_err());
    assert!(
        err.starts_with("t.toml:7: `mail.smtp_url`: also given as `billing.smtp_url` (t.toml:5"),
        "{err}"
    );
    let s = parse(&format!(
        "{CONTROL_PLANE}[mail]\nfrom = \"A <a@example.com>\"\n[billing]\nmail_from = \"B <b@example.com>\"\n"
    ));
    let err = format!("{:#}", mail(&s, None).unwrap_err());
    assert!(
        err.contains("`mail.from`: also given as `billing.mail_from`"),
        "{err}"
    );
}

#[test]
fn unknown_keys_and_broken_templates_are_named() {
    let err = format!(
        "{:#}",
        Settings::parse_with_env(
            &format!("{CONTROL_PLANE}[mail]\nsmtp = \"x\"\n"),
            "t.toml",
            []
        )
        .unwrap_err()
    );
    assert!(err.contains("smtp"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("verify_email.html");
    std::fs::write(&file, "{% block content %}").unwrap();
    let s = parse(&format!(
        "{CONTROL_PLANE}[mail]\ntemplates_dir = \"{}\"\n",
        dir.path().display()
    ));
    let err = format!("{:#}", mail(&s, None).unwrap_err());
    assert!(err.starts_with("t.toml:5: `mail.templates_dir`:"), "{err}");
    assert!(err.contains(&format!("`{}`:", file.display())), "{err}");
}
