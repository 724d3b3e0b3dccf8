//! The messages WRNexus mails: each names its template and carries the
//! values the template is given. Queued in the transaction of the change
//! that calls for it ([`crate::store::mail::enqueue_message`]).

use serde::Serialize;

/// One message. The variant's name (snake_case) is its template's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Message {
    /// Prove ownership of `email` (at sign-up, or a change of email).
    VerifyEmail {
        email: String,
        /// The single-use link (absolute URL).
        link: String,
        /// Unix seconds the link stops working.
        expires_at: i64,
        /// A change of email rather than a new account.
        change: bool,
    },
    /// Choose a new password.
    ResetPassword {
        email: String,
        link: String,
        expires_at: i64,
    },
    /// The password was changed or reset (sent to the account's address).
    PasswordChanged { email: String, signin_link: String },
    /// Join a workspace.
    Invitation {
        email: String,
        workspace_name: String,
        /// Who invited (their email).
        inviter: String,
        /// `owner`, `admin`, `member` or `viewer`.
        role: String,
        link: String,
        expires_at: i64,
    },
    /// A workspace's payment failed (to each owner).
    PaymentFailed {
        workspace_name: String,
        /// Unix seconds the workspace stays writable until.
        grace_until: i64,
        billing_link: String,
    },
}

impl Message {
    /// The template's name (the file stem an operator replaces).
    pub fn template(&self) -> &'static str {
        match self {
            Message::VerifyEmail { .. } => "verify_email",
            Message::ResetPassword { .. } => "reset_password",
            Message::PasswordChanged { .. } => "password_changed",
            Message::Invitation { .. } => "invitation",
            Message::PaymentFailed { .. } => "payment_failed",
        }
    }

    /// The values as a JSON object (the template's name under `template`).
    pub fn data(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_the_template_name() {
        let m = Message::ResetPassword {
            email: "a@example.com".into(),
            link: "https://x/.wrnexus/reset-password?token=t".into(),
            expires_at: 1,
        };
        assert_eq!(m.data()["template"], m.template());
        assert_eq!(
            m.data()["link"],
            "https://x/.wrnexus/reset-password?token=t"
        );
    }
}
