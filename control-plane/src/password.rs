//! Passwords: argon2id hashing and the strength rule.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest accepted password, in characters.
pub const MIN_LENGTH: usize = 10;
/// Longest accepted password, in bytes (bounds hashing work).
pub const MAX_LENGTH: usize = 1024;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("`password` must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("`password` must be at most {MAX_LENGTH} bytes")]
    TooLong,
}

/// Check the strength rule.
pub fn check(password: &str) -> Result<(), WeakPassword> {
    if password.chars().count() < MIN_LENGTH {
        Err(WeakPassword::TooShort)
    } else if password.len() > MAX_LENGTH {
        Err(WeakPassword::TooLong)
    } else {
        Ok(())
    }
}

/// Hash with argon2id and a random salt (PHC string).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Verify against a PHC string. A malformed hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_same_password() -> Result<(), argon2::password_hash::Error> {
        let phc = hash("correct horse battery")?;
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse battery!", &phc));
        assert!(!verify("anything", "not a hash"));
        Ok(())
    }

    #[test]
    fn strength_rule() {
        assert_eq!(check("short"), Err(WeakPassword::TooShort));
        assert_eq!(check("long enough!"), Ok(()));
        assert_eq!(
            check(&"x".repeat(MAX_LENGTH + 1)),
            Err(WeakPassword::TooLong)
        );
    }
}
