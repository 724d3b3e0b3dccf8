//! The signed assertion header: a short-lived EdDSA JWT the gateway adds to
//! every forwarded request, so an upstream can verify who is calling instead
//! of trusting plain headers. The public keys are served by the control
//! plane at `/v1/assertion-keys` (JWKS). Every gateway of a deployment signs
//! with the same key, given as `WRNEXUS_ASSERTION_KEY`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

/// What is signed, under which header, issuer and audience, is the wire
/// contract's: apps verify it with the SDK.
pub use wrnexus_contract::assertion::{
    ASSERTION_HEADER, ASSERTION_ISSUER, ASSERTION_TTL_SECS, AssertionClaims,
    DEFAULT_ASSERTION_AUDIENCE, KIND_API_KEY, KIND_USER,
};

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
    use crate::model::Role;
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
            kind: KIND_USER.into(),
            wid: "w1".into(),
            role: Role::Member,
            pid: None,
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
