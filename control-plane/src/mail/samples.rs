//! Sample values of every message, with which the templates are tried at
//! load (and by `wrnexus config check`).

use super::Message;

/// 5 December 2026, 14:00 UTC: any fixed date does.
const SAMPLE_TIME: i64 = 1_796_479_200;

/// One of each message (both kinds of email verification).
pub fn samples() -> Vec<Message> {
    let link = |path: &str| format!("https://wrnexus.example.com{path}");
    vec![
        Message::VerifyEmail {
            email: "name@example.com".into(),
            link: link("/.wrnexus/verify-email?token=sample"),
            expires_at: SAMPLE_TIME,
            change: false,
        },
        Message::VerifyEmail {
            email: "new@example.com".into(),
            link: link("/.wrnexus/verify-email?token=sample"),
            expires_at: SAMPLE_TIME,
            change: true,
        },
        Message::ResetPassword {
            email: "name@example.com".into(),
            link: link("/.wrnexus/reset-password?token=sample"),
            expires_at: SAMPLE_TIME,
        },
        Message::PasswordChanged {
            email: "name@example.com".into(),
            signin_link: link("/.wrnexus/signin"),
        },
        Message::Invitation {
            email: "invitee@example.com".into(),
            workspace_name: "Acme".into(),
            inviter: "owner@example.com".into(),
            role: "member".into(),
            link: link("/.wrnexus/invitations/sample"),
            expires_at: SAMPLE_TIME,
        },
        Message::PaymentFailed {
            workspace_name: "Acme".into(),
            grace_until: SAMPLE_TIME,
            billing_link: link("/"),
        },
    ]
}
