//! Minting session tokens with the control plane's stored key, so tests can
//! present expired, mis-addressed or unsigned tokens that look real.

use crate::TestResult;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use sqlx::{Connection, Row};

/// The newest stored signing key: (kid, PKCS#8 DER).
pub async fn stored_key(database_url: &str) -> TestResult<(String, Vec<u8>)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await?;
    let row = sqlx::query(
        "SELECT kid, private_key FROM signing_keys ORDER BY created_at DESC, kid LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await?;
    let kid: String = row.try_get("kid")?;
    let der = STANDARD.decode(row.try_get::<String, _>("private_key")?)?;
    Ok((kid, der))
}

/// Sign `claims` with the stored key.
pub async fn mint(database_url: &str, claims: &Value) -> TestResult<String> {
    let (kid, der) = stored_key(database_url).await?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_der(&der),
    )?)
}

/// The claims of a token (unverified; for building variants).
pub fn claims_of(token: &str) -> TestResult<Value> {
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

/// The same claims with `alg: none` and no signature.
pub fn unsigned(token: &str) -> TestResult<String> {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next().ok_or("not a JWT")?)?;
    let mut header: Value = serde_json::from_slice(&header)?;
    header["alg"] = Value::String("none".into());
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    Ok(format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?)
    ))
}

/// The token with one character in the middle of its signature changed.
pub fn tampered(token: &str) -> String {
    let signature_start = token.rfind('.').map_or(0, |i| i + 1);
    let middle = signature_start + (token.len() - signature_start) / 2;
    token
        .char_indices()
        .map(|(i, c)| {
            if i == middle {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect()
}
