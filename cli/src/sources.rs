//! Where settings come from: the TOML file and `WRNEXUS_<SECTION>__<KEY>`
//! environment variables, merged by figment, which remembers which of them
//! gave each value. Errors name the file, line and key, or the variable.

use anyhow::{Result, anyhow};
use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use toml::de::{DeTable, DeValue};

/// Variables `WRNEXUS_<SECTION>__<KEY>` override the file's keys.
pub const ENV_PREFIX: &str = "WRNEXUS_";
/// Nested keys in a variable's name (`WRNEXUS_GATEWAY__LISTEN`).
const ENV_SEPARATOR: &str = "__";
/// The environment provider's metadata name.
const ENV_NAME: &str = "environment";

/// The file's values (figment remembers this provider gave them).
struct FileValues {
    origin: String,
    values: Dict,
}

impl Provider for FileValues {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone()).source(Source::File(PathBuf::from(&self.origin)))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// The values of `WRNEXUS_<SECTION>__<KEY>` variables, read as figment
/// reads them: `42`, `true`, `["a", "b"]` and `{ k = "v" }` keep their type,
/// anything else is a string.
struct EnvValues(Dict);

impl EnvValues {
    fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut dict = Dict::new();
        for (name, raw) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // Variables without `__` (WRNEXUS_LOG, WRNEXUS_CONFIG, the
            // secrets) are not settings.
            if !rest.contains(ENV_SEPARATOR) {
                continue;
            }
            let keys: Vec<String> = rest
                .split(ENV_SEPARATOR)
                .map(str::to_ascii_lowercase)
                .collect();
            if keys.iter().any(String::is_empty) {
                continue;
            }
            let value: Value = match raw.parse() {
                Ok(v) => v,
                Err(never) => match never {},
            };
            let nested = keys.iter().rev().fold(value, |inner, key| {
                Value::from(Dict::from([(key.clone(), inner)]))
            });
            if let Value::Dict(_, nested) = nested {
                dict = merge(dict, nested);
            }
        }
        EnvValues(dict)
    }
}

/// `b` over `a`, recursively.
fn merge(mut a: Dict, b: Dict) -> Dict {
    for (key, value) in b {
        let merged = match (a.remove(&key), value) {
            (Some(Value::Dict(_, old)), Value::Dict(tag, new)) => Value::Dict(tag, merge(old, new)),
            (_, value) => value,
        };
        a.insert(key, merged);
    }
    a
}

impl Provider for EnvValues {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_NAME)
            .interpolater(|_: &Profile, keys: &[&str]| env_var(keys.iter().copied()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// The variable that sets `keys`.
fn env_var<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let keys: Vec<String> = keys.map(str::to_ascii_uppercase).collect();
    format!("{ENV_PREFIX}{}", keys.join(ENV_SEPARATOR))
}

/// The file and the environment, merged, with what it takes to say where
/// a value came from.
#[derive(Clone, Default)]
pub struct Sources {
    figment: Figment,
    origin: String,
    text: String,
}

impl Sources {
    /// `text` read from `origin`, overridden by `vars` (the process's
    /// environment, or a test's).
    pub fn new(
        text: &str,
        origin: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let values: Dict = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_of(text, span.start));
            anyhow!("{origin}:{line}: {}", e.message().trim_end())
        })?;
        let figment = Figment::new()
            .merge(FileValues {
                origin: origin.to_string(),
                values,
            })
            .merge(EnvValues::new(vars));
        Ok(Sources {
            figment,
            origin: origin.to_string(),
            text: text.to_string(),
        })
    }

    /// The file's name, as errors give it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The settings, or every error, each naming where it comes from.
    pub fn extract<T: DeserializeOwned>(&self) -> Result<T> {
        self.figment.extract().map_err(|errors| {
            let lines: Vec<String> = errors.into_iter().map(|e| self.describe(&e)).collect();
            anyhow!("{}", lines.join("\n"))
        })
    }

    /// Where the value at `key` (`gateway.trusted_proxies`,
    /// `gateway.routes.0.upstream`) came from, for an error message:
    /// ``wrnexus.toml:12: `gateway.trusted_proxies` `` or
    /// ``environment variable `WRNEXUS_GATEWAY__TRUSTED_PROXIES` ``.
    pub fn locate(&self, key: &str) -> String {
        let path: Vec<&str> = key.split('.').collect();
        // Array elements have no metadata of their own: the array's.
        let from_env = (1..=path.len()).rev().find_map(|n| {
            self.figment
                .find_metadata(&path[..n].join("."))
                .map(|m| m.name == ENV_NAME)
        });
        self.location(&path, from_env.unwrap_or(false))
    }

    fn location(&self, path: &[&str], from_env: bool) -> String {
        let key = path.join(".");
        if from_env {
            // An element of a list set from the environment: the list's variable.
            let keys = path.iter().copied().filter(|k| k.parse::<usize>().is_err());
            return format!("environment variable `{}`", env_var(keys));
        }
        match self.line(path) {
            Some(line) => format!("{}:{line}: `{key}`", self.origin),
            None => format!("{}: `{key}`", self.origin),
        }
    }

    /// The line of `path`'s key in the file (or of the nearest table that
    /// holds it).
    fn line(&self, path: &[&str]) -> Option<usize> {
        let document = DeTable::parse(&self.text).ok()?;
        let mut table = document.get_ref();
        let mut found = None;
        let mut rest = path.iter();
        while let Some(key) = rest.next() {
            let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
                break;
            };
            found = Some(k.span().start);
            let mut value = v;
            // `[[gateway.routes]]`: an index picks the table.
            while let DeValue::Array(items) = value.get_ref() {
                let Some(item) = rest
                    .clone()
                    .next()
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| items.get(i))
                else {
                    break;
                };
                rest.next();
                found = Some(item.span().start);
                value = item;
            }
            match value.get_ref() {
                DeValue::Table(inner) => table = inner,
                _ => break,
            }
        }
        found.map(|offset| line_of(&self.text, offset))
    }

    /// One figment error as a line: where, then what.
    fn describe(&self, e: &figment::Error) -> String {
        let from_env = e.metadata.as_ref().is_some_and(|m| m.name == ENV_NAME);
        let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
        let what = match &e.kind {
            Kind::UnknownField(_, expected) => {
                format!("unknown key; the keys here are {}", one_of(expected))
            }
            Kind::MissingField(field) => format!("missing key `{field}`"),
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                format!("expected {expected}, found {actual}")
            }
            Kind::InvalidLength(n, expected) => format!("expected {expected}, found {n} items"),
            Kind::UnknownVariant(found, expected) => {
                format!("unknown value `{found}`; expected {}", one_of(expected))
            }
            Kind::Message(message) => message.clone(),
            other => other.to_string(),
        };
        if path.is_empty() {
            return format!("{}: {what}", self.origin);
        }
        if from_env && matches!(e.kind, Kind::MissingField(_)) {
            // A section made by variables alone, without a key it needs.
            return format!(
                "environment variables `{}{}*` (`{}`): {what}",
                env_var(path.iter().copied()),
                ENV_SEPARATOR,
                path.join(".")
            );
        }
        format!("{}: {what}", self.location(&path, from_env))
    }
}

/// The file's name only: its text and values may hold credentials.
impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
