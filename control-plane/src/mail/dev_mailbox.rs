//! The dev mailbox: where `wrnexus dev` delivers mail when no SMTP server
//! is given. In memory, bounded (the oldest go first), newest first; shown
//! at `/.wrnexus/dev/mail`.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many messages the dev mailbox keeps.
pub const CAPACITY: usize = 200;

/// One delivered message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DevMail {
    /// The outbox row's id.
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// RFC 3339, UTC.
    pub sent_at: String,
}

/// The mailbox. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct DevMailbox(Arc<Mutex<VecDeque<DevMail>>>);

impl DevMailbox {
    pub fn new() -> Self {
        DevMailbox::default()
    }

    /// Keep `mail`, dropping the oldest beyond [`CAPACITY`]. A message
    /// delivered again (a retried row) replaces its earlier copy.
    pub fn deliver(&self, mail: DevMail) {
        if let Ok(mut box_) = self.0.lock() {
            box_.retain(|m| m.id != mail.id);
            box_.push_front(mail);
            box_.truncate(CAPACITY);
        }
    }

    /// Every message, newest first.
    pub fn messages(&self) -> Vec<DevMail> {
        self.0
            .lock()
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The message `id`.
    pub fn get(&self, id: &str) -> Option<DevMail> {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.iter().find(|m| m.id == id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(id: usize) -> DevMail {
        DevMail {
            id: id.to_string(),
            to: "a@example.com".into(),
            subject: format!("s{id}"),
            text: String::new(),
            html: String::new(),
            sent_at: String::new(),
        }
    }

    #[test]
    fn newest_first_and_bounded() {
        let mailbox = DevMailbox::new();
        for i in 0..CAPACITY + 5 {
            mailbox.deliver(mail(i));
        }
        let all = mailbox.messages();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].id, (CAPACITY + 4).to_string());
        assert_eq!(all[CAPACITY - 1].id, "5");
        assert!(mailbox.get("4").is_none());
        assert_eq!(mailbox.get("7").map(|m| m.subject), Some("s7".into()));
        mailbox.deliver(mail(7));
        assert_eq!(mailbox.messages().len(), CAPACITY);
        assert_eq!(mailbox.messages()[0].id, "7");
    }
}
