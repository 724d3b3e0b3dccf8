//! Minting many session tokens with the control plane's stored key, read
//! once (for load benchmarks that present thousands of distinct sessions).

use crate::TestResult;
use crate::tokens::stored_key;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

/// Signs claims with the newest stored signing key.
pub struct Minter {
    header: Header,
    key: EncodingKey,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl Minter {
    /// Read the key from the control plane's database.
    pub async fn load(database_url: &str) -> TestResult<Self> {
        let (kid, der) = stored_key(database_url).await?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        Ok(Minter {
            header,
            key: EncodingKey::from_ed_der(&der),
        })
    }

    /// Sign `claims`.
    pub fn mint(&self, claims: &Value) -> TestResult<String> {
        Ok(jsonwebtoken::encode(&self.header, claims, &self.key)?)
    }
}
