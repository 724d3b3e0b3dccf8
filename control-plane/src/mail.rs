//! Mail: the messages WRNexus sends ([`message`]), their templates
//! ([`templates`]), how and where they are sent ([`transport`], [`config`]),
//! the worker that sends the outbox ([`worker`]), and `wrnexus dev`'s
//! mailbox ([`dev_mailbox`], shown by [`crate::api::dev_mail`]).

pub mod config;
pub mod dates;
pub mod dev_mailbox;
pub mod message;
pub mod samples;
pub mod templates;
pub mod transport;
pub mod worker;

pub use config::MailConfig;
pub use dev_mailbox::DevMailbox;
pub use message::Message;
pub use templates::{MailTemplates, Rendered, TemplateError};
