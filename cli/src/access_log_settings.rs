//! `[gateway] access_log`: `true` (standard output), a target (`"stdout"`
//! or a file path), or a table `{ enabled, target }`. Off unless set.

use serde::Deserialize;
use wrnexus_gateway::config::AccessLogTarget;

/// The `access_log` key, in any of its spellings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AccessLogSetting {
    /// `access_log = true`: to standard output.
    On(bool),
    /// `access_log = "stdout"` or `"/var/log/wrnexus/access.log"` (from
    /// the environment, `"true"` and `"false"` too).
    Target(String),
    /// `[gateway.access_log]`.
    Table(AccessLogTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogTable {
    /// Default: `true` (the table is there to turn it on).
    pub enabled: Option<bool>,
    /// `"stdout"` (default) or a file path, appended to.
    pub target: Option<String>,
}

impl AccessLogSetting {
    /// Where lines go; `None`: the access log is off.
    pub fn target(&self) -> Option<AccessLogTarget> {
        match self {
            AccessLogSetting::On(on) => on.then_some(AccessLogTarget::Stdout),
            AccessLogSetting::Target(text) => match text.trim() {
                "false" | "off" | "" => None,
                "true" | "on" => Some(AccessLogTarget::Stdout),
                target => Some(AccessLogTarget::parse(target)),
            },
            AccessLogSetting::Table(table) => table
                .enabled
                .unwrap_or(true)
                .then(|| AccessLogTarget::parse(table.target.as_deref().unwrap_or("stdout"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Gateway {
        access_log: AccessLogSetting,
    }

    fn target(toml_text: &str) -> Option<AccessLogTarget> {
        let parsed: Gateway = match toml::from_str(toml_text) {
            Ok(g) => g,
            Err(e) => panic!("{toml_text}: {e}"),
        };
        parsed.access_log.target()
    }

    #[test]
    fn every_spelling() {
        let file = Some(AccessLogTarget::File("/var/log/a.log".into()));
        assert_eq!(target("access_log = true"), Some(AccessLogTarget::Stdout));
        assert_eq!(target("access_log = false"), None);
        assert_eq!(target("access_log = \"false\""), None);
        assert_eq!(
            target("access_log = \"stdout\""),
            Some(AccessLogTarget::Stdout)
        );
        assert_eq!(target("access_log = \"/var/log/a.log\""), file);
        assert_eq!(target("access_log = { target = \"/var/log/a.log\" }"), file);
        assert_eq!(
            target("access_log = { enabled = false, target = \"/var/log/a.log\" }"),
            None
        );
        assert_eq!(
            target("access_log = { enabled = true }"),
            Some(AccessLogTarget::Stdout)
        );
    }
}
