//! The signed assertion header: a short-lived EdDSA JWT the gateway adds to
//! every forwarded request, so an upstream can verify who is calling instead
//! of trusting plain headers. The public keys are served by the control
//! plane at `/v1/assertion-keys` (JWKS). Every gateway of a deployment signs
//! with the same key, given as `WRNEXUS_ASSERTION_KEY`.

use crate::model::Role;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The request header carrying the assertion.
pub const ASSERTION_HEADER: &str = "x-wrnexus-assertion";
/// `iss` of every assertion.
pub const ASSERTION_ISSUER: &str = "wrnexus-gateway";
/// `aud` unless configured otherwise.
pub const DEFAULT_ASSERTION_AUDIENCE: &str = "wrnexus-upstream";
/// How long an assertion is valid, in seconds.
pub const ASSERTION_TTL_SECS: i64 = 60;

/// What an assertion states about one forwarded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, or the API key id when `kind` is `api_key`.
    pub sub: String,
    /// `user` or `api_key`.
    pub kind: String,
    /// The workspace the request was decided in.
    pub wid: String,
    /// The role it was decided with (an API key's ceiling).
    pub role: Role,
    /// The request id the upstream also sees as `X-Request-Id`.
    pub rid: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why an assertion key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the assertion key is not a base64 PKCS#8 Ed25519 private key: {0}")]
pub struct AssertionKeyError(String);

/// The signing key; its public half is published as a JWK.
#[derive(Clone)]
pub struct AssertionKey {
    kid: String,
    encoding: EncodingKey,
    public_x: String,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl AssertionKey {
    /// A new key and its secret form (for `WRNEXUS_ASSERTION_KEY`).
    pub fn generate() -> Result<(Self, String), AssertionKeyError> {
        let signing = SigningKey::generate(&mut rand_core::OsRng);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| AssertionKeyError(e.to_string()))?;
        let secret = STANDARD.encode(der.as_bytes());
        Ok((Self::from_secret(&secret)?, secret))
    }

    /// Read the secret form: base64 of a PKCS#8 DER Ed25519 private key.
    pub fn from_secret(secret: &str) -> Result<Self, AssertionKeyError> {
        let der = STANDARD
            .decode(secret.trim())
            .map_err(|e| AssertionKeyError(e.to_string()))?;
        let signing =
            SigningKey::from_pkcs8_der(&der).map_err(|e| AssertionKeyError(e.to_string()))?;
        let public = signing.verifying_key();
        let digest = Sha256::digest(public.as_bytes());
        let kid = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(AssertionKey {
            kid,
            encoding: EncodingKey::from_ed_der(&der),
            public_x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Sign `claims` into a compact JWT (header `kid`, `typ`).
    pub fn sign(&self, claims: &AssertionClaims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// The public key set upstreams verify with.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![Jwk {
                common: CommonParameters {
                    public_key_use: Some(PublicKeyUse::Signature),
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    key_id: Some(self.kid.clone()),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: self.public_x.clone(),
                }),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn assertions_verify_with_the_published_key_only() -> Result<(), Box<dyn std::error::Error>> {
        let (key, secret) = AssertionKey::generate()?;
        let again = AssertionKey::from_secret(&secret)?;
        assert_eq!(key.kid(), again.kid(), "the kid follows from the key");
        let claims = AssertionClaims {
            iss: ASSERTION_ISSUER.into(),
            aud: DEFAULT_ASSERTION_AUDIENCE.into(),
            sub: "u1".into(),
            kind: "user".into(),
            wid: "w1".into(),
            role: Role::Member,
            rid: "r1".into(),
            iat: 0,
            exp: i64::MAX,
        };
        let token = again.sign(&claims)?;
        let jwks = key.jwks();
        let jwk = jwks.find(key.kid()).ok_or("no jwk")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[DEFAULT_ASSERTION_AUDIENCE]);
        validation.set_issuer(&[ASSERTION_ISSUER]);
        let data = jsonwebtoken::decode::<AssertionClaims>(
            &token,
            &DecodingKey::from_jwk(jwk)?,
            &validation,
        )?;
        assert_eq!(data.claims, claims);
        let (other, _) = AssertionKey::generate()?;
        let other_jwk = other.jwks().keys.remove(0);
        assert!(
            jsonwebtoken::decode::<AssertionClaims>(
                &token,
                &DecodingKey::from_jwk(&other_jwk)?,
                &validation
            )
            .is_err()
        );
        assert!(AssertionKey::from_secret("not a key").is_err());
        Ok(())
    }
}
