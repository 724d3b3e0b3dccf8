//! The HTTP client the control plane talks to OpenID providers with, in
//! the shape `openidconnect` calls (`AsyncHttpClient`). A workspace's
//! provider is a URL its owner typed: every fetch (discovery, keys, token)
//! goes through the SSRF guard — names resolved and every address checked
//! against `sso_allow_networks`, the connection made to the very addresses
//! checked, literal addresses checked too. Operators' own providers are
//! trusted. Redirects are never followed, proxies never used, answers are
//! capped in size and time.

use crate::webhook_resolve::{CheckedResolver, forbidden_in, literal_host};
use crate::webhook_target::{TargetForbidden, TargetPolicy};
use axum::http;
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long one fetch from a provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider.
const MAX_BODY: usize = 512 * 1024;

/// Why a fetch from a provider failed. Never carries a request body (the
/// token request holds the code and the client secret).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not an absolute http(s) URL.
    #[error("the provider URL is not an absolute http(s) URL")]
    BadUrl,
    /// The address is one workspace providers may not be fetched at.
    #[error(
        "{}{}, {}; workspace identity providers may not be reached at such addresses unless an \
         operator allows the network (`sso_allow_networks`)",
        match &.0.host { Some(h) => format!("the host `{h}` resolves to "), None => "the URL points at ".to_string() },
        .0.address,
        .0.class.describe()
    )]
    Forbidden(TargetForbidden),
    /// The provider did not answer in time.
    #[error("the provider did not answer within {}s", TIMEOUT.as_secs())]
    Timeout,
    /// The provider could not be reached, or its answer not read.
    #[error("the provider could not be reached")]
    Unreachable,
    /// Plain `http://` to a provider that is not at an address the operator
    /// allowed (`sso_allow_networks`, named by its IP address): the code,
    /// the client secret and the tokens would cross networks in clear.
    #[error(
        "a workspace identity provider is fetched over https://; plain http:// only at an IP \
         address inside a network the operator allows (`sso_allow_networks`)"
    )]
    PlainHttp,
    /// The answer is larger than [`MAX_BODY`].
    #[error("the provider's answer is larger than {MAX_BODY} bytes")]
    TooLarge,
}

impl FetchError {
    fn of(e: reqwest::Error) -> Self {
        if let Some(forbidden) = forbidden_in(&e) {
            FetchError::Forbidden(forbidden.clone())
        } else if e.is_timeout() {
            FetchError::Timeout
        } else {
            tracing::debug!(error = %e.without_url(), "fetch from an OpenID provider failed");
            FetchError::Unreachable
        }
    }
}

/// A client for one kind of provider: guarded (workspace connections) or
/// trusted (instance-wide providers). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    /// Set for workspace providers: literal addresses are checked here, the
    /// resolver checks names.
    guard: Option<Arc<TargetPolicy>>,
}

impl ProviderHttp {
    /// The client for workspace connections' providers, bound by `policy`.
    pub fn guarded(policy: TargetPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = builder()
            .dns_resolver(CheckedResolver::new(Arc::clone(&policy)))
            .build()?;
        Ok(ProviderHttp {
            client,
            guard: Some(policy),
        })
    }

    /// The client for the operator's own providers.
    pub fn trusted() -> Result<Self, reqwest::Error> {
        Ok(ProviderHttp {
            client: builder().build()?,
            guard: None,
        })
    }

    /// Send `request`, checking its target first, and read the answer (at
    /// most [`MAX_BODY`] bytes).
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let request = reqwest::Request::try_from(request).map_err(|_| FetchError::BadUrl)?;
        let url = request.url();
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(FetchError::BadUrl);
        }
        if let Some(policy) = &self.guard {
            let literal = literal_host(url);
            if let Some(ip) = literal {
                policy.check(None, ip).map_err(FetchError::Forbidden)?;
            }
            if url.scheme() == "http" && !literal.is_some_and(|ip| policy.allowed(ip)) {
                return Err(FetchError::PlainHttp);
            }
        }
        let mut response = self.client.execute(request).await.map_err(FetchError::of)?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::of)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = response.status();
        *answer.version_mut() = response.version();
        *answer.headers_mut() = std::mem::take(response.headers_mut());
        Ok(answer)
    }

    /// GET `url` and read the answer (the JSON documents of a provider).
    pub async fn get(&self, url: &str) -> Result<HttpResponse, FetchError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| FetchError::BadUrl)?;
        self.execute(request).await
    }
}

fn builder() -> reqwest::ClientBuilder {
    wrnexus_backends::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("WRNexus/", env!("CARGO_PKG_VERSION")))
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = FetchError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, FetchError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn workspace_providers_at_private_addresses_are_refused() {
        let http = ProviderHttp::guarded(TargetPolicy::default()).unwrap();
        for url in [
            "http://127.0.0.1:9/.well-known/openid-configuration",
            "https://localhost:9/.well-known/openid-configuration",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let refused = http.get(url).await;
            assert!(matches!(refused, Err(FetchError::Forbidden(_))), "{url}");
        }
    }

    #[tokio::test]
    async fn plain_http_only_reaches_allowed_addresses() {
        let loopback = crate::webhook_target::parse_networks(&["127.0.0.0/8"]).unwrap();
        let http = ProviderHttp::guarded(TargetPolicy::new(loopback)).unwrap();
        // Public names and addresses, and names in an allowed network: https
        // only.
        for url in [
            "http://idp.example.com/.well-known/openid-configuration",
            "http://93.184.216.34/.well-known/openid-configuration",
            "http://localhost:9/.well-known/openid-configuration",
        ] {
            let refused = http.get(url).await;
            assert!(matches!(refused, Err(FetchError::PlainHttp)), "{url}");
        }
        // An allowed address named by its IP may be plain http (nothing
        // listens there: the fetch itself fails, not the guard).
        let allowed = http
            .get("http://127.0.0.1:9/.well-known/openid-configuration")
            .await;
        assert!(
            matches!(allowed, Err(FetchError::Unreachable | FetchError::Timeout)),
            "{allowed:?}"
        );
        assert!(matches!(
            http.get("file:///etc/passwd").await,
            Err(FetchError::BadUrl)
        ));
    }
}
