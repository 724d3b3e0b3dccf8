//! The API key format both sides share: `wrn_<key id>_<secret>` (16 and 64
//! hex digits; the prefix makes leaked keys findable by secret scanners).
//! Only the SHA-256 of the secret is stored and pushed; the secret has 256
//! random bits, so a slow hash adds nothing. Compare in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every key.
pub const KEY_PREFIX: &str = "wrn_";

/// Split `wrn_<key id>_<secret>`; `None` if it is not of that form.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// The stored and pushed form of a secret.
pub fn secret_hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` is the one `stored_hash` was made from (constant time).
pub fn secret_matches(stored_hash: &str, secret: &str) -> bool {
    stored_hash
        .as_bytes()
        .ct_eq(secret_hash(secret).as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_and_the_hash() {
        let secret = "ab".repeat(32);
        let token = format!("wrn_0123456789abcdef_{secret}");
        assert_eq!(parse(&token), Some(("0123456789abcdef", secret.as_str())));
        assert_eq!(parse("wrn_short_x"), None);
        assert_eq!(parse("eyJhbGciOi"), None);
        let stored = secret_hash(&secret);
        assert!(secret_matches(&stored, &secret));
        assert!(!secret_matches(&stored, &"cd".repeat(32)));
    }
}
