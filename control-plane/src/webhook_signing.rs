//! Standard Webhooks signing: endpoint secrets (`whsec_…`), and the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of every endpoint secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Header carrying the event id (stable across retries).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the time of signing, in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying `v1,<base64 signature>`.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A secret that cannot be used as a signing key. The message never
/// includes the secret itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    #[error("a webhook secret must start with `whsec_`")]
    Prefix,
    #[error("a webhook secret must be base64 after `whsec_`")]
    Base64,
    #[error("a webhook secret must not be empty")]
    Empty,
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(raw))
}

/// The HMAC key of a secret: the bytes after `whsec_`.
fn key(secret: &str) -> Result<Vec<u8>, SigningError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SigningError::Prefix)?;
    let key = STANDARD.decode(encoded).map_err(|_| SigningError::Base64)?;
    if key.is_empty() {
        return Err(SigningError::Empty);
    }
    Ok(key)
}

fn mac(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, SigningError> {
    let key = key(secret)?;
    // HMAC takes keys of any length; this cannot fail for a non-empty key.
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SigningError::Empty)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SigningError> {
    let tag = mac(secret, id, timestamp, body)?.finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The three headers of one delivery attempt, as (name, value).
pub fn headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], SigningError> {
    Ok([
        (HEADER_ID, id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secret, id, timestamp, body)?),
    ])
}

/// Whether any `v1,` signature of a (space-separated) `webhook-signature`
/// header matches, compared in constant time. For receivers and tests.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|tag| mac(secret, id, timestamp, body).is_ok_and(|m| m.verify_slice(&tag).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_specification_example() {
        assert_eq!(
            sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY).as_deref(),
            Ok(SPEC_SIG)
        );
    }

    #[test]
    fn verifies_its_own_and_rejects_changes() {
        let secret = new_secret();
        let sig = sign(&secret, "msg_1", 10, b"{}").unwrap();
        assert!(verify(&secret, "msg_1", 10, b"{}", &sig));
        assert!(verify(
            &secret,
            "msg_1",
            10,
            b"{}",
            &format!("v1,AAAA {sig}")
        ));
        assert!(!verify(&secret, "msg_2", 10, b"{}", &sig));
        assert!(!verify(&secret, "msg_1", 11, b"{}", &sig));
        assert!(!verify(&secret, "msg_1", 10, b"{ }", &sig));
        assert!(!verify(&new_secret(), "msg_1", 10, b"{}", &sig));
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let [id, ts, sig] = headers(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY).unwrap();
        assert_eq!(id, (HEADER_ID, SPEC_ID.to_string()));
        assert_eq!(ts, (HEADER_TIMESTAMP, SPEC_TS.to_string()));
        assert_eq!(sig, (HEADER_SIGNATURE, SPEC_SIG.to_string()));
    }

    #[test]
    fn secrets_are_fresh_and_well_formed() {
        let a = new_secret();
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(key(&a).map(|k| k.len()), Ok(32));
        assert_ne!(a, new_secret());
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(sign("nope", "m", 1, b""), Err(SigningError::Prefix));
        assert_eq!(sign("whsec_!!!", "m", 1, b""), Err(SigningError::Base64));
        assert_eq!(sign("whsec_", "m", 1, b""), Err(SigningError::Empty));
    }
}
