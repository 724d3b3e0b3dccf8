//! API keys at the gateway: `Authorization: Bearer wrn_<key id>_<secret>`.
//! The pushed key entry carries only a hash of the secret; the presented
//! secret is hashed and compared in constant time, then the key's state
//! (revoked, expired) is checked. A key acts for its one workspace.

use http::HeaderMap;
use http::header::AUTHORIZATION;
pub use wrnexus_policies::api_key::KEY_PREFIX;
use wrnexus_policies::api_key::{parse, secret_matches};
use wrnexus_policies::{Entry, Role};

/// A presented key, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentedKey<'h> {
    pub id: &'h str,
    pub secret: &'h str,
    /// The whole token, to show the control plane on a miss.
    pub token: &'h str,
}

/// Why a key is refused. The client sees only `invalid_api_key` and one
/// sentence for every refusal of a well-formed key; the finer reason goes
/// to the key's audit log (see [`crate::key_usage::record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the API key is malformed")]
    Malformed,
    /// No entry for the key id here: unknown, or the control plane refused
    /// to answer for this secret.
    #[error("the API key is unknown, revoked or expired")]
    Refused,
    #[error("the API key is unknown, revoked or expired")]
    WrongSecret,
    #[error("the API key is unknown, revoked or expired")]
    Revoked,
    #[error("the API key is unknown, revoked or expired")]
    Expired,
}

impl KeyError {
    /// The reason as audit rows name it.
    pub fn reason(self) -> &'static str {
        match self {
            KeyError::Malformed => "malformed",
            KeyError::Refused => "unknown",
            KeyError::WrongSecret => "wrong_secret",
            KeyError::Revoked => "revoked",
            KeyError::Expired => "expired",
        }
    }
}

/// What a valid key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub workspace_id: String,
    pub role_ceiling: Role,
    /// Valid while now (Unix seconds) is before this.
    pub expires_at: Option<i64>,
    /// The projects the key is limited to; `None`: all of them.
    pub projects: Option<Vec<String>>,
}

/// The credentials of a `Bearer` authorization (the scheme in any case,
/// RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether an `Authorization` value carries a WRNexus key (well formed or
/// not, under any scheme): such a value never reaches an app.
pub fn names_a_key(value: &http::HeaderValue) -> bool {
    let prefix = KEY_PREFIX.as_bytes();
    value
        .as_bytes()
        .split(|b| b.is_ascii_whitespace() || *b == b',')
        .any(|word| word.len() >= prefix.len() && word[..prefix.len()].eq_ignore_ascii_case(prefix))
}

/// The API key a request presents, if its `Authorization` is a `wrn_` bearer.
pub fn presented(headers: &HeaderMap) -> Option<Result<PresentedKey<'_>, KeyError>> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = bearer(value)?;
    if !token.starts_with(KEY_PREFIX) {
        return None;
    }
    let parsed = parse(token);
    Some(match parsed {
        Some((id, secret)) => Ok(PresentedKey { id, secret, token }),
        None => Err(KeyError::Malformed),
    })
}

/// Check `key` against its entry at `now` (Unix seconds).
pub fn check(entry: &Entry, key: &PresentedKey<'_>, now: i64) -> Result<KeyGrant, KeyError> {
    let Entry::ApiKey {
        workspace_id,
        role_ceiling,
        secret_hash: stored,
        expires_at,
        revoked,
        projects,
    } = entry
    else {
        return Err(KeyError::Refused);
    };
    if !secret_matches(stored, key.secret) {
        return Err(KeyError::WrongSecret);
    }
    if *revoked {
        return Err(KeyError::Revoked);
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(KeyError::Expired);
    }
    Ok(KeyGrant {
        workspace_id: workspace_id.clone(),
        role_ceiling: *role_ceiling,
        expires_at: *expires_at,
        projects: projects.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wrnexus_policies::api_key::secret_hash;

    const ID: &str = "0123456789abcdef";
    const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn entry(revoked: bool, expires_at: Option<i64>) -> Entry {
        Entry::ApiKey {
            workspace_id: "w1".into(),
            role_ceiling: Role::Viewer,
            secret_hash: secret_hash(SECRET),
            expires_at,
            revoked,
            projects: None,
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn only_wrn_bearers_are_keys() {
        assert_eq!(presented(&headers("Bearer eyJhbGciOi")), None);
        assert_eq!(presented(&HeaderMap::new()), None);
        assert_eq!(
            presented(&headers("Bearer wrn_short_x")),
            Some(Err(KeyError::Malformed))
        );
        let token = format!("wrn_{ID}_{SECRET}");
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let h = headers(&format!("{scheme} {token}"));
            let key = presented(&h).unwrap().unwrap();
            assert_eq!(
                (key.id, key.secret, key.token),
                (ID, SECRET, token.as_str())
            );
        }
    }

    #[test]
    fn any_value_carrying_a_key_is_recognised() {
        let named = |v: &str| names_a_key(&v.parse().unwrap());
        assert!(named("Bearer wrn_x_y"));
        assert!(named("Token WRN_x_y"));
        assert!(named("Basic abc, Bearer wrn_"));
        assert!(!named("Bearer eyJ.wrn_inside"));
        assert!(!named("Basic d3JuXw=="));
    }

    #[test]
    fn the_secret_state_and_expiry_are_checked() {
        let token = format!("wrn_{ID}_{SECRET}");
        let good = PresentedKey {
            id: ID,
            secret: SECRET,
            token: &token,
        };
        let grant = check(&entry(false, None), &good, 100).unwrap();
        assert_eq!(grant.workspace_id, "w1");
        assert_eq!(grant.role_ceiling, Role::Viewer);
        let wrong = PresentedKey {
            secret: &SECRET.replace('0', "1"),
            ..good
        };
        assert_eq!(
            check(&entry(false, None), &wrong, 100),
            Err(KeyError::WrongSecret)
        );
        // A revoked key with a wrong secret says nothing about its state.
        assert_eq!(
            check(&entry(true, None), &wrong, 100),
            Err(KeyError::WrongSecret)
        );
        assert_eq!(
            check(&entry(true, None), &good, 100),
            Err(KeyError::Revoked)
        );
        assert_eq!(
            check(&entry(false, Some(100)), &good, 100),
            Err(KeyError::Expired)
        );
        assert!(check(&entry(false, Some(101)), &good, 100).is_ok());
        assert_eq!(check(&Entry::Missing, &good, 100), Err(KeyError::Refused));
    }

    #[test]
    fn every_refusal_reads_the_same_to_the_client() {
        let refusals = [
            KeyError::Refused,
            KeyError::WrongSecret,
            KeyError::Revoked,
            KeyError::Expired,
        ];
        for e in refusals {
            assert_eq!(e.to_string(), KeyError::Refused.to_string());
        }
        let reasons: Vec<_> = refusals.iter().map(|e| e.reason()).collect();
        assert_eq!(reasons, ["unknown", "wrong_secret", "revoked", "expired"]);
    }
}
