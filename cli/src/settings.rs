//! The configuration file: one TOML file for every role, `WRNEXUS_SECTION__KEY`
//! environment overrides (lists as `["a", "b"]` or `a, b`), durations as
//! numbers in the key's unit or with their own (`"10s"`), unknown keys
//! rejected. Every error names the file, line and key, or the variable.

use crate::durations::Ms;
use crate::sources::Sources;
use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::path::{Path, PathBuf};
use wrnexus_policies::PolicySource;
use wrnexus_policies::assertion::AssertionKey;
use wrnexus_policies::claims::{DEFAULT_AUDIENCE, DEFAULT_COOKIE_NAME, DEFAULT_ISSUER};
use wrnexus_policies::solver::ProofSettings;

pub use crate::control_plane_settings::ControlPlaneSettings;
pub use crate::gateway_settings::GatewaySettings;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub session: SessionSettings,
    #[serde(default)]
    pub policies: PolicySettings,
    pub gateway: Option<GatewaySettings>,
    pub control_plane: Option<ControlPlaneSettings>,
    #[serde(default)]
    pub billing: crate::billing_settings::BillingSettings,
    #[serde(default)]
    pub mail: crate::mail_settings::MailSettings,
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// Where each value came from, for errors found after reading.
    #[serde(skip)]
    pub sources: Sources,
}

/// Shared by gateway and control plane: they must agree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub issuer: String,
    pub audience: String,
    /// Refuse people who have not verified their email: the gateway refuses
    /// their sessions (403 `email_unverified`) and the control plane refuses
    /// them new API keys, so no key carries them past it. Default: false.
    pub require_verified_email: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            cookie_name: DEFAULT_COOKIE_NAME.to_string(),
            issuer: DEFAULT_ISSUER.to_string(),
            audience: DEFAULT_AUDIENCE.to_string(),
            require_verified_email: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// A directory with `schema.cedarschema` and `*.cedar`; unset: the shipped policies.
    pub dir: Option<PathBuf>,
    /// A candidate directory the gateway decides with beside the live one,
    /// counting and logging differences without enforcing them.
    pub shadow_dir: Option<PathBuf>,
    /// How often gateways look at the directories for changes, in
    /// milliseconds or with a unit (default 250); SIGHUP reloads at once
    /// regardless.
    pub poll_interval_ms: Option<Ms>,
    /// The cvc5 program the policy proofs run on; unset: `CVC5` from the
    /// environment, else `cvc5` on PATH. Without one, proofs are off (said
    /// loudly) and the invariants are checked by sampling.
    pub solver: Option<PathBuf>,
    /// How long one solver query may take, in milliseconds or with a unit
    /// (default 5000); a query unanswered then refuses the set.
    pub solver_timeout_ms: Option<Ms>,
}

/// A list of strings, or one comma-separated string (`a, b`, as a list
/// most easily arrives from a `WRNEXUS_*` variable; `["a", "b"]` works there too).
pub fn list_or_commas<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Items;
    impl<'de> Visitor<'de> for Items {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings or one comma-separated string")
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(s.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(items)
        }
    }
    d.deserialize_any(Items)
}

/// [`list_or_commas`] for a list whose absence means something.
pub fn some_list_or_commas<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    list_or_commas(d).map(Some)
}

/// The assertion signing key from `WRNEXUS_ASSERTION_KEY`, if set.
pub fn assertion_key_from_env() -> Result<Option<AssertionKey>> {
    match std::env::var("WRNEXUS_ASSERTION_KEY") {
        Ok(v) if !v.trim().is_empty() => {
            Ok(Some(AssertionKey::from_secret(&v).map_err(|e| {
                anyhow!("environment variable `WRNEXUS_ASSERTION_KEY`: {e}")
            })?))
        }
        _ => Ok(None),
    }
}

/// The gateways' shared secret from `WRNEXUS_GATEWAY_TOKEN`, if set.
pub fn gateway_token_from_env() -> Option<String> {
    std::env::var("WRNEXUS_GATEWAY_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl Settings {
    /// Read `path`, apply environment overrides, and check every key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file `{}`", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// `text` as read from `origin`, with the process's `WRNEXUS_*` overrides.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        Self::parse_with_env(text, origin, std::env::vars())
    }

    /// `text` as read from `origin`, overridden by `vars`.
    pub fn parse_with_env(
        text: &str,
        origin: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let sources = Sources::new(text, origin, vars)?;
        let mut settings: Settings = sources.extract()?;
        settings.sources = sources;
        Ok(settings)
    }

    /// Where the value at `key` came from: ``file:line: `key` `` or the
    /// environment variable, to begin an error message with.
    pub fn locate(&self, key: &str) -> String {
        self.sources.locate(key)
    }

    /// The `[policies]` solver settings the proofs of every load use.
    pub fn proof_settings(&self) -> Result<ProofSettings> {
        let mut proofs = match &self.policies.solver {
            Some(path) => ProofSettings::with_solver(path, "[policies] solver"),
            None => ProofSettings::default(),
        };
        if let Some(v) = self.policies.solver_timeout_ms {
            if v.duration.is_zero() {
                return Err(anyhow!(
                    "{}: [policies] solver_timeout_ms must be at least 1",
                    self.locate("policies.solver_timeout_ms")
                ));
            }
            proofs.timeout = v.duration;
        }
        Ok(proofs)
    }

    pub fn policy_source(&self) -> PolicySource {
        self.policies
            .dir
            .clone()
            .map_or(PolicySource::Shipped, PolicySource::Dir)
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
