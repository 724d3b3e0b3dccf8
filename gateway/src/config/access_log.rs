//! Where the access log goes, when it is on.

use std::path::PathBuf;

/// The access log's destination: one JSON line per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// The process's standard output (its own logs go to standard error).
    Stdout,
    /// Appended to this file (created if missing).
    File(PathBuf),
}

impl AccessLogTarget {
    /// `"stdout"` (or `"-"`), or a file path.
    pub fn parse(target: &str) -> Self {
        match target.trim() {
            "" | "stdout" | "-" => AccessLogTarget::Stdout,
            path => AccessLogTarget::File(PathBuf::from(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_or_a_file() {
        assert_eq!(AccessLogTarget::parse("stdout"), AccessLogTarget::Stdout);
        assert_eq!(AccessLogTarget::parse("-"), AccessLogTarget::Stdout);
        assert_eq!(
            AccessLogTarget::parse("/var/log/wrnexus/access.log"),
            AccessLogTarget::File(PathBuf::from("/var/log/wrnexus/access.log"))
        );
    }
}
