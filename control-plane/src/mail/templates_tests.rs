//! Rendering every message, escaping, an operator's replacements and a
//! broken template refused naming its file.

use super::*;
use crate::mail::samples::samples;

fn invitation(workspace_name: &str) -> Message {
    Message::Invitation {
        email: "bob@example.com".into(),
        workspace_name: workspace_name.into(),
        inviter: "alice@example.com".into(),
        role: "admin".into(),
        link: "https://app.example.com/.wrnexus/invitations/tok?a=1&b=2".into(),
        expires_at: 1_796_479_200,
    }
}

#[test]
fn every_message_renders_subject_text_and_html() {
    let templates = MailTemplates::load(None).unwrap();
    for message in samples() {
        let r = templates.render_message(&message).unwrap();
        assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{r:?}");
        assert!(r.html.starts_with("<!doctype html>"), "{r:?}");
        assert!(
            r.html
                .contains(&format!("<title>{}</title>", escape_for_test(&r.subject)))
        );
        let data = message.data();
        for key in ["link", "signin_link", "billing_link"] {
            if let Some(link) = data[key].as_str() {
                assert!(r.text.contains(link), "{key} in {}", r.text);
                assert!(r.html.contains(link), "{key} in {}", r.html);
            }
        }
    }
}

fn escape_for_test(s: &str) -> String {
    crate::api::pages::escape(s)
}

#[test]
fn the_invitation_reads_as_a_person_expects() {
    let r = MailTemplates::default()
        .render_message(&invitation("Acme"))
        .unwrap();
    assert_eq!(
        r.subject,
        "alice@example.com invited you to Acme on WRNexus"
    );
    assert!(
        r.text
            .contains("join the workspace \"Acme\" on WRNexus as admin"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("until 5 December 2026, 14:00 UTC"),
        "{}",
        r.text
    );
    // The link is whole in the text, attribute-escaped in the HTML.
    assert!(
        r.text
            .contains("https://app.example.com/.wrnexus/invitations/tok?a=1&b=2"),
        "{}",
        r.text
    );
    assert!(
        r.html
            .contains("href=\"https://app.example.com/.wrnexus/invitations/tok?a=1&amp;b=2\""),
        "{}",
        r.html
    );
}

#[test]
fn values_are_escaped_in_html_only() {
    let r = MailTemplates::default()
        .render_message(&invitation("<script>alert(1)</script> & Co"))
        .unwrap();
    assert!(!r.html.contains("<script>"), "{}", r.html);
    assert!(
        r.html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{}",
        r.html
    );
    assert!(
        r.text.contains("<script>alert(1)</script> & Co"),
        "{}",
        r.text
    );
    assert!(
        r.subject.contains("<script>alert(1)</script> & Co"),
        "{}",
        r.subject
    );
}

#[test]
fn an_operator_replaces_any_template_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invitation.subject.txt"),
        "Join {{ workspace_name }}\n  now\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("layout.html"),
        "<html><body class=\"ours\">{% block content %}{% endblock %}</body></html>",
    )
    .unwrap();
    let templates = MailTemplates::load(Some(dir.path())).unwrap();
    let r = templates.render_message(&invitation("Acme")).unwrap();
    assert_eq!(r.subject, "Join Acme now");
    assert!(r.html.contains("<body class=\"ours\">"), "{}", r.html);
    // What was not replaced is the built-in.
    assert!(r.text.contains("join the workspace"), "{}", r.text);
    let replaced: Vec<_> = templates
        .sources()
        .filter(|p| p.starts_with(dir.path()))
        .collect();
    assert_eq!(replaced.len(), 2, "{replaced:?}");
}

#[test]
fn a_broken_template_stops_the_load_naming_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reset_password.txt");
    std::fs::write(&file, "Hello\n{% if email %}\n").unwrap();
    let err = MailTemplates::load(Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("`{}`:", file.display())), "{err}");
    assert!(err.contains("syntax error"), "{err}");

    // A misspelt value is found at load, not when the first mail goes.
    std::fs::write(&file, "Hello\n\n{{ lnik }}\n").unwrap();
    let err = MailTemplates::load(Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("`{}`:3:", file.display())), "{err}");
    assert!(err.contains("undefined"), "{err}");

    // A broken layout is named, though a message's template extends it.
    std::fs::remove_file(&file).unwrap();
    let layout = dir.path().join("layout.html");
    std::fs::write(&layout, "<p>{{ subject | nosuchfilter }}</p>").unwrap();
    let err = MailTemplates::load(Some(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("`{}`:", layout.display())),
        "{err}"
    );

    let missing = dir.path().join("missing");
    let err = MailTemplates::load(Some(&missing)).unwrap_err().to_string();
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn unknown_templates_are_refused() {
    let err = MailTemplates::default()
        .render("no_such", &serde_json::json!({}))
        .unwrap_err();
    assert!(err.to_string().contains("no_such"), "{err}");
}
