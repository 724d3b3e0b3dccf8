//! Sealing secrets at rest (workspace connections' client secrets) with
//! AES-256-GCM under the control plane's secrets key. The stored text is
//! `v1:<base64 of nonce || ciphertext>`; the associated data binds a sealed
//! secret to its row, so it cannot be moved to another and opened there.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// The version prefix of sealed text.
const PREFIX: &str = "v1:";
/// AES-GCM's nonce length.
const NONCE_LEN: usize = 12;

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Sealing failed (never expected with a 32-byte key).
    #[error("the secret could not be sealed")]
    Seal,
    /// Not `v1:` text, or not base64, or too short.
    #[error("the sealed secret is not in the `v1:` form")]
    Malformed,
    /// Another key sealed it, or it was altered, or it belongs to another row.
    #[error("the sealed secret does not open with the secrets key")]
    Open,
}

/// The secrets key, decoded from its configured base64 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`secrets_key` must be the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")]
pub struct BadSecretsKey;

/// Decode a configured secrets key: base64 (standard or URL-safe, padded
/// or not) of exactly 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], BadSecretsKey> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| BadSecretsKey)?;
    bytes.try_into().map_err(|_| BadSecretsKey)
}

/// A new random secrets key, as its base64 text.
pub fn generate_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    STANDARD.encode(key)
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    let key: &Key<Aes256Gcm> = key.into();
    Aes256Gcm::new(key)
}

/// Seal `secret` for the row named by `aad`.
pub fn seal(key: &[u8; 32], secret: &str, aad: &str) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher(key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| SealError::Seal)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
}

/// Open text [`seal`] made for the row named by `aad`.
pub fn open(key: &[u8; 32], sealed: &str, aad: &str) -> Result<String, SealError> {
    let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
    let bytes = STANDARD.decode(body).map_err(|_| SealError::Malformed)?;
    if bytes.len() <= NONCE_LEN {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
    let plain = cipher(key)
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| SealError::Open)?;
    String::from_utf8(plain).map_err(|_| SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_row() {
        let sealed = seal(&KEY, "s3cret", "conn-1").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(open(&KEY, &sealed, "conn-1").unwrap(), "s3cret");
        // A fresh nonce each time.
        assert_ne!(seal(&KEY, "s3cret", "conn-1").unwrap(), sealed);
    }

    #[test]
    fn tampering_another_key_or_row_do_not_open() {
        let sealed = seal(&KEY, "s3cret", "conn-1").unwrap();
        assert_eq!(open(&[8; 32], &sealed, "conn-1"), Err(SealError::Open));
        assert_eq!(open(&KEY, &sealed, "conn-2"), Err(SealError::Open));
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("v1:{}", STANDARD.encode(&bytes));
        assert_eq!(open(&KEY, &altered, "conn-1"), Err(SealError::Open));
        assert_eq!(open(&KEY, "v2:abc", "conn-1"), Err(SealError::Malformed));
        assert_eq!(open(&KEY, "v1:!!", "conn-1"), Err(SealError::Malformed));
        assert_eq!(open(&KEY, "v1:AAAA", "conn-1"), Err(SealError::Malformed));
    }

    #[test]
    fn keys_are_32_bytes_of_base64() {
        let key = generate_key();
        assert_eq!(parse_key(&key).unwrap().len(), 32);
        assert_eq!(parse_key(" AAAA "), Err(BadSecretsKey));
        assert_eq!(parse_key("not base64 at all"), Err(BadSecretsKey));
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([255u8; 32]);
        assert_eq!(parse_key(&url_safe).unwrap(), [255u8; 32]);
    }
}
