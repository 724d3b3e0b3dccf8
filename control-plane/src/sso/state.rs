//! What the single sign-on routes share: the provider cache and the two
//! HTTP clients (guarded for workspace providers, trusted for the
//! operator's own).

use super::http::ProviderHttp;
use super::provider::Providers;
use crate::config::SsoConfig;

/// Shared by every sign-on route.
#[derive(Debug)]
pub struct SsoState {
    pub providers: Providers,
    /// For workspace connections: through the SSRF guard.
    pub guarded: ProviderHttp,
    /// For instance-wide providers from the operator's config.
    pub trusted: ProviderHttp,
}

impl SsoState {
    /// Build the clients for `config`.
    pub fn new(config: &SsoConfig) -> Result<Self, reqwest::Error> {
        Ok(SsoState {
            providers: Providers::new(),
            guarded: ProviderHttp::guarded(config.target_policy())?,
            trusted: ProviderHttp::trusted()?,
        })
    }

    /// The client for a provider: guarded unless the operator configured it.
    pub fn http(&self, guarded: bool) -> &ProviderHttp {
        if guarded {
            &self.guarded
        } else {
            &self.trusted
        }
    }
}
