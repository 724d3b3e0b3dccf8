//! The verifier: checks an assertion's EdDSA signature, issuer, audience
//! and expiry against the gateway's published keys, and turns its claims
//! into a [`GatewayContext`].

use crate::claims::{ASSERTION_HEADER, AssertionClaims, DEFAULT_AUDIENCE, GatewayContext, ISSUER};
use crate::error::VerifyError;
use crate::keys::{KeyCache, Remote, parse_jwks};
use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use std::sync::Arc;
use std::time::Duration;

/// Why a verifier cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid JWKS: {0}")]
    Jwks(String),
    #[error("invalid JWKS URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// Verifies `x-wrnexus-assertion` headers. Cheap to clone; clones share
/// one key cache.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeyCache,
    validation: Validation,
    audience: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Settings beyond the defaults (leeway, refetch interval, …).
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Keys from the control plane's JWKS URL (fetched on first use), e.g.
    /// `https://gateway.example.com/.wrnexus/api/v1/assertion-keys`.
    pub fn remote(jwks_url: &str, audience: &str) -> Result<Self, ConfigError> {
        Self::builder().audience(audience).jwks_url(jwks_url)
    }

    /// Keys from a JWKS document, never refetched (tests, offline use).
    pub fn from_jwks_json(jwks: &str, audience: &str) -> Result<Self, ConfigError> {
        Self::builder().audience(audience).jwks_json(jwks)
    }

    /// The audience assertions must be for.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Fetch the remote key set now (e.g. at startup, to fail early).
    pub async fn prefetch(&self) -> Result<(), VerifyError> {
        self.inner.keys.refresh().await
    }

    /// How many times the key set was fetched so far (for monitoring).
    pub async fn key_fetches(&self) -> u64 {
        self.inner.keys.fetches().await
    }

    /// Verify the assertion header of a request. Only the signed
    /// assertion counts: plain `x-user-id`/`x-workspace-*` headers are
    /// ignored.
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<GatewayContext, VerifyError> {
        let mut values = headers.get_all(ASSERTION_HEADER).iter();
        let Some(value) = values.next() else {
            return Err(VerifyError::Missing);
        };
        if values.next().is_some() {
            return Err(invalid("more than one assertion header"));
        }
        let token = value
            .to_str()
            .map_err(|_| invalid("the header is not ASCII"))?;
        self.verify(token).await
    }

    /// Verify one compact JWT.
    pub async fn verify(&self, token: &str) -> Result<GatewayContext, VerifyError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(VerifyError::Missing);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid("not signed with EdDSA"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id"))?;
        let key = self.inner.keys.key(&kid).await?;
        let data = jsonwebtoken::decode::<AssertionClaims>(token, &key, &self.inner.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                ErrorKind::InvalidSignature => invalid("bad signature"),
                ErrorKind::InvalidAudience => invalid("wrong audience"),
                ErrorKind::InvalidIssuer => invalid("wrong issuer"),
                ErrorKind::MissingRequiredClaim(claim) => {
                    VerifyError::Invalid(format!("no `{claim}` claim"))
                }
                _ => invalid("malformed claims"),
            })?;
        GatewayContext::try_from(data.claims).map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

fn invalid(reason: &str) -> VerifyError {
    VerifyError::Invalid(reason.to_string())
}

/// Settings of a [`Verifier`]; finish with [`VerifierBuilder::jwks_url`] or
/// [`VerifierBuilder::jwks_json`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    audience: String,
    leeway: Duration,
    refetch_interval: Duration,
    key_max_age: Duration,
    http_timeout: Duration,
    client: Option<reqwest::Client>,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            audience: DEFAULT_AUDIENCE.to_string(),
            leeway: Duration::from_secs(5),
            refetch_interval: Duration::from_secs(30),
            key_max_age: Duration::from_secs(600),
            http_timeout: Duration::from_secs(5),
            client: None,
        }
    }
}

impl VerifierBuilder {
    /// The gateway's `assertion_audience` (default `wrnexus-upstream`).
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = audience.to_string();
        self
    }

    /// Clock skew tolerated on `exp` (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two key fetches (default 30 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Keys older than this are refetched on next use (default 10 min).
    pub fn key_max_age(mut self, age: Duration) -> Self {
        self.key_max_age = age;
        self
    }

    /// Timeout of one key fetch (default 5 s; ignored with `http_client`).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The HTTP client fetching keys (e.g. one with TLS roots or a proxy).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// A verifier fetching its keys from `url`.
    pub fn jwks_url(self, url: &str) -> Result<Verifier, ConfigError> {
        let bad_url = |reason: String| ConfigError::Url {
            url: url.to_string(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad_url(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad_url("not http(s)".into()));
        }
        let client = match self.client.clone() {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(self.http_timeout)
                .build()
                .map_err(|e| ConfigError::HttpClient(e.to_string()))?,
        };
        let keys = KeyCache::remote(Remote {
            url: parsed,
            client,
            refetch_interval: self.refetch_interval,
            max_age: self.key_max_age,
        });
        Ok(self.finish(keys))
    }

    /// A verifier with the fixed keys of a JWKS document.
    pub fn jwks_json(self, jwks: &str) -> Result<Verifier, ConfigError> {
        let keys = parse_jwks(jwks.as_bytes()).map_err(ConfigError::Jwks)?;
        if keys.is_empty() {
            return Err(ConfigError::Jwks(
                "no Ed25519 signing key with a kid".into(),
            ));
        }
        Ok(self.finish(KeyCache::fixed(keys)))
    }

    fn finish(self, keys: KeyCache) -> Verifier {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_exp = true;
        Verifier {
            inner: Arc::new(Inner {
                keys,
                validation,
                audience: self.audience,
            }),
        }
    }
}
