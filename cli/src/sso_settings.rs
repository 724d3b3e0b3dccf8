//! The single sign-on keys of `[control_plane]`: the secrets key that seals
//! workspace connections' client secrets, the networks workspace identity
//! providers may be fetched at, and the instance-wide providers
//! (`[[control_plane.oidc_providers]]`).

use crate::settings::Settings;
use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::path::Path;
use wrnexus_control_plane::config::{OidcProviderConfig, SsoConfig};
use wrnexus_control_plane::sso::seal;

/// The secrets key's environment variable (preferred over the file).
pub const SECRETS_KEY_ENV: &str = "WRNEXUS_SECRETS_KEY";
/// Where `wrnexus dev` keeps the secrets key it made, in its data dir.
pub const DEV_SECRETS_KEY_FILE: &str = "secrets.key";

/// One `[[control_plane.oidc_providers]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// Its name in URLs: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// The sign-in button says "Continue with {display_name}" (default: the name).
    pub display_name: Option<String>,
    pub issuer: String,
    pub client_id: String,
    /// Or `WRNEXUS_OIDC_<NAME>_CLIENT_SECRET` (preferred).
    pub client_secret: Option<String>,
}

/// The environment variable holding provider `name`'s client secret.
pub fn client_secret_env(name: &str) -> String {
    format!(
        "WRNEXUS_OIDC_{}_CLIENT_SECRET",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The secrets key from `WRNEXUS_SECRETS_KEY`, else from the file's
/// `secrets_key` (`file_key`, located at `where_`).
pub fn secrets_key(
    file_key: Option<&str>,
    where_: impl Fn() -> String,
) -> Result<Option<[u8; 32]>> {
    if let Some(text) = env(SECRETS_KEY_ENV) {
        return seal::parse_key(&text)
            .map(Some)
            .map_err(|e| anyhow!("environment variable `{SECRETS_KEY_ENV}`: {e}"));
    }
    match file_key.map(str::trim).filter(|k| !k.is_empty()) {
        Some(text) => seal::parse_key(text)
            .map(Some)
            .map_err(|e| anyhow!("{}: {e}", where_())),
        None => Ok(None),
    }
}

/// `wrnexus dev`'s secrets key: `WRNEXUS_SECRETS_KEY`, else the one kept in
/// `<data_dir>/secrets.key`, made (readable by its owner only) on the first
/// run.
pub fn dev_secrets_key(data_dir: &Path) -> Result<[u8; 32]> {
    if let Some(key) = secrets_key(None, String::new)? {
        return Ok(key);
    }
    let path = data_dir.join(DEV_SECRETS_KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return seal::parse_key(&text).map_err(|e| anyhow!("`{}`: {e}", path.display()));
    }
    let text = seal::generate_key();
    write_private(&path, &text)
        .map_err(|e| anyhow!("cannot write the secrets key to `{}`: {e}", path.display()))?;
    seal::parse_key(&text).map_err(|e| anyhow!("{e}"))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}

fn provider(
    settings: &Settings,
    index: usize,
    p: &OidcProviderSettings,
    seen: &mut Vec<String>,
) -> Result<OidcProviderConfig> {
    let at = |key: &str| settings.locate(&format!("control_plane.oidc_providers.{index}.{key}"));
    let name = p.name.trim().to_string();
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(anyhow!(
            "{}: `{name}` must be lowercase letters, digits, `-` or `_` (it is used in URLs)",
            at("name")
        ));
    }
    if seen.contains(&name) {
        return Err(anyhow!("{}: `{name}` is named twice", at("name")));
    }
    seen.push(name.clone());
    // Kept as given: the provider's documents name it exactly so.
    let issuer = p.issuer.trim().to_string();
    let parsed = url::Url::parse(&issuer)
        .map_err(|_| anyhow!("{}: `{issuer}` is not a URL", at("issuer")))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(anyhow!(
            "{}: `{issuer}` must be an absolute http(s) URL like https://accounts.google.com",
            at("issuer")
        ));
    }
    let client_id = p.client_id.trim().to_string();
    if client_id.is_empty() {
        return Err(anyhow!("{}: must not be empty", at("client_id")));
    }
    let secret_env = client_secret_env(&name);
    let client_secret = env(&secret_env)
        .or_else(|| p.client_secret.clone().filter(|s| !s.trim().is_empty()))
        .ok_or_else(|| {
            anyhow!(
                "{}: provider `{name}` needs a client secret (`client_secret`, or the \
                 environment variable `{secret_env}`)",
                at("client_secret")
            )
        })?;
    Ok(OidcProviderConfig {
        display_name: p
            .display_name
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        issuer,
        client_id,
        client_secret,
    })
}

/// Apply the single sign-on keys to `sso`.
pub fn apply(
    settings: &Settings,
    secrets_key_text: Option<&str>,
    allow_networks: &[String],
    providers: &[OidcProviderSettings],
    sso: &mut SsoConfig,
) -> Result<()> {
    sso.secrets_key = secrets_key(secrets_key_text, || {
        settings.locate("control_plane.secrets_key")
    })?;
    sso.allow_networks = wrnexus_control_plane::webhook_target::parse_networks(allow_networks)
        .map_err(|e| {
            anyhow!(
                "{}: {e}",
                settings.locate("control_plane.sso_allow_networks")
            )
        })?;
    let mut seen = Vec::new();
    sso.oidc_providers = providers
        .iter()
        .enumerate()
        .map(|(i, p)| provider(settings, i, p, &mut seen))
        .collect::<Result<_>>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "[control_plane]\nlisten = \"127.0.0.1:7070\"\ndatabase_url = \"sqlite://x.db\"\n";

    fn sso(extra: &str) -> Result<SsoConfig> {
        let s = Settings::parse_with_env(&format!("{BASE}{extra}"), "t.toml", [])?;
        Ok(s.control_plane()?.1.sso)
    }

    #[test]
    fn providers_networks_and_the_key_reach_the_control_plane() -> Result<()> {
        let empty = sso("")?;
        assert!(empty.oidc_providers.is_empty() && empty.allow_networks.is_empty());
        let key = seal::generate_key();
        let c = sso(&format!(
            "secrets_key = \"{key}\"\nsso_allow_networks = \"127.0.0.0/8\"\n\
             [[control_plane.oidc_providers]]\nname = \"google\"\n\
             display_name = \"Google\"\nissuer = \"https://accounts.google.com/\"\n\
             client_id = \"id\"\nclient_secret = \"secret\"\n"
        ))?;
        if std::env::var(SECRETS_KEY_ENV).is_err() {
            assert_eq!(c.secrets_key, Some(seal::parse_key(&key)?));
        }
        assert_eq!(c.allow_networks.len(), 1);
        let google = c.provider("google").ok_or_else(|| anyhow!("no provider"))?;
        assert_eq!(google.display_name, "Google");
        assert_eq!(google.issuer, "https://accounts.google.com/");
        assert_eq!(google.client_secret, "secret");
        Ok(())
    }

    #[test]
    fn bad_keys_names_and_missing_secrets_are_named() {
        let error = |extra: &str| match sso(extra) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        };
        if std::env::var(SECRETS_KEY_ENV).is_err() {
            let e = error("secrets_key = \"c2hvcnQ=\"\n");
            assert!(
                e.contains("control_plane.secrets_key") && e.contains("32"),
                "{e}"
            );
        }
        let provider = "[[control_plane.oidc_providers]]\nissuer = \"https://idp.example\"\n\
                        client_id = \"id\"\n";
        let e = error(&format!(
            "{provider}name = \"Big Co\"\nclient_secret = \"s\"\n"
        ));
        assert!(e.contains("lowercase"), "{e}");
        let e = error(&format!("{provider}name = \"nosecret-xyz\"\n"));
        assert!(e.contains("WRNEXUS_OIDC_NOSECRET_XYZ_CLIENT_SECRET"), "{e}");
    }

    #[test]
    fn dev_keeps_the_key_it_made() -> Result<()> {
        if std::env::var(SECRETS_KEY_ENV).is_ok() {
            return Ok(());
        }
        let dir = tempfile::tempdir()?;
        let first = dev_secrets_key(dir.path())?;
        assert_eq!(dev_secrets_key(dir.path())?, first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_SECRETS_KEY_FILE))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }
}
