//! Session tokens: the Ed25519 signing key, JWT issue and verify, and the
//! public key set (JWKS) gateways verify with.

use crate::store::sessions::StoredKey;
use crate::store::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::collections::HashMap;
use wrnexus_policies::SessionClaims;

/// Token failures.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token signed with an unknown key")]
    UnknownKey,
    #[error("stored signing key is unreadable: {0}")]
    BadStoredKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The control plane's keys: the newest signs, all verify.
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: JwkSet,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn generate() -> Result<StoredKey, TokenError> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = signing
        .to_pkcs8_der()
        .map_err(|e| TokenError::BadStoredKey(e.to_string()))?;
    Ok(StoredKey {
        kid: uuid::Uuid::new_v4().simple().to_string(),
        private_key: STANDARD.encode(der.as_bytes()),
        public_key: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
    })
}

fn jwk(kid: &str, x: &str) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid.to_string()),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: x.to_string(),
        }),
    }
}

impl Keys {
    /// Load the stored keys, creating the first one if there is none.
    pub async fn load_or_create(
        store: &Store,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, TokenError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            store.insert_signing_key(&generate()?).await?;
            stored = store.signing_keys().await?;
        }
        let newest = stored
            .first()
            .ok_or_else(|| TokenError::BadStoredKey("no signing key".to_string()))?;
        let der = STANDARD
            .decode(&newest.private_key)
            .map_err(|e| TokenError::BadStoredKey(e.to_string()))?;
        let mut decoding = HashMap::new();
        let mut keys = Vec::new();
        for key in &stored {
            decoding.insert(
                key.kid.clone(),
                DecodingKey::from_ed_components(&key.public_key)?,
            );
            keys.push(jwk(&key.kid, &key.public_key));
        }
        Ok(Keys {
            kid: newest.kid.clone(),
            encoding: EncodingKey::from_ed_der(&der),
            decoding,
            jwks: JwkSet { keys },
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
    }

    /// The id of the key sessions are signed with now: the same in every
    /// replica of a deployment (keys live in the database).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public keys, for `GET /v1/keys`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Sign claims into a compact JWT.
    pub fn sign(&self, claims: &SessionClaims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_string());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Verify signature, `exp`, `iss` and `aud`; EdDSA only.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(jsonwebtoken::decode::<SessionClaims>(token, key, &validation)?.claims)
    }
}
