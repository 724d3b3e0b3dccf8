//! The vocabulary of decisions: roles, workspace status (both the wire
//! contract's), actions, credentials.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Roles, workspace status and their names are the wire contract's.
pub use wrnexus_contract::{Role, UnknownName, WorkspaceStatus};

/// The string Cedar sees for "no membership".
pub const NO_ROLE: &str = "none";

/// How the principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Session,
    ApiKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::ApiKey => "api_key",
        }
    }
}

/// The methods that only look (RFC 9110 safe methods): the gateway maps
/// them to `read` by default, and the invariants count no request made
/// with one as a write unless its action is `write`.
pub const SAFE_METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

/// Whether `method` is one of [`SAFE_METHODS`].
pub fn is_safe_method(method: &str) -> bool {
    SAFE_METHODS.contains(&method)
}

/// A Cedar action name. The shipped ones are constants; routes may name
/// others declared in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Action(pub String);

impl Action {
    pub const READ: &'static str = "read";
    pub const WRITE: &'static str = "write";
    pub const ADMIN: &'static str = "admin";
    pub const BILLING: &'static str = "billing";

    pub fn read() -> Self {
        Action(Self::READ.to_string())
    }

    pub fn write() -> Self {
        Action(Self::WRITE.to_string())
    }

    pub fn admin() -> Self {
        Action(Self::ADMIN.to_string())
    }

    /// The default mapping: safe methods read, everything else writes.
    pub fn for_method(method: &str) -> Self {
        if is_safe_method(method) {
            Self::read()
        } else {
            Self::write()
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_methods_read_and_others_write() {
        assert_eq!(Action::for_method("GET").as_str(), "read");
        assert_eq!(Action::for_method("HEAD").as_str(), "read");
        assert_eq!(Action::for_method("OPTIONS").as_str(), "read");
        assert_eq!(Action::for_method("POST").as_str(), "write");
        assert_eq!(Action::for_method("DELETE").as_str(), "write");
    }
}
