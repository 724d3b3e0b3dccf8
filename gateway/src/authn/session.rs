//! Authentication: find the session cookie and verify its JWT.

use crate::authn::keys::KeyRing;
use crate::authn::token_cache::{self, TokenCache};
use http::HeaderMap;
use http::header::COOKIE;
use jsonwebtoken::{Algorithm, Validation};
use std::sync::Arc;
use wrnexus_policies::SessionClaims;

/// Why a request carries no usable identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    #[error("no session")]
    Missing,
    #[error("the session cookie is sent more than once")]
    DuplicateCookie,
    #[error("the session token is invalid")]
    Invalid,
    #[error("the session token names an unknown key")]
    UnknownKey,
    #[error("the session has ended")]
    Revoked,
}

impl AuthnError {
    /// The problem code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            AuthnError::Missing => "unauthenticated",
            AuthnError::DuplicateCookie => "duplicate_session_cookie",
            AuthnError::Invalid | AuthnError::UnknownKey => "invalid_session",
            AuthnError::Revoked => "session_revoked",
        }
    }
}

/// The session token from the `Cookie` header(s). Two cookies of that name
/// are refused: which one a backend would pick is ambiguous.
pub fn session_token<'h>(headers: &'h HeaderMap, cookie_name: &str) -> Result<&'h str, AuthnError> {
    session_cookie(headers, cookie_name).and_then(|(token, _)| token_text(token))
}

/// A session token's bytes as text; a token that is not UTF-8 is invalid.
pub fn token_text(token: &[u8]) -> Result<&str, AuthnError> {
    std::str::from_utf8(token).map_err(|_| AuthnError::Invalid)
}

/// The session token's bytes, and whether it is the request's only cookie
/// (then the app, which never sees the session cookie, is sent no
/// `Cookie`). This runs on every request, over the whole token: the values
/// are scanned as bytes (`;` found with `memchr`), and the token is read
/// as text only when it is not the one this connection sent last (see
/// [`token_text`]).
pub fn session_cookie<'h>(
    headers: &'h HeaderMap,
    cookie_name: &str,
) -> Result<(&'h [u8], bool), AuthnError> {
    let name = cookie_name.as_bytes();
    let mut found: Option<&[u8]> = None;
    let mut others = false;
    for value in headers.get_all(COOKIE) {
        let mut rest = value.as_bytes();
        loop {
            let (pair, next) = match memchr::memchr(b';', rest) {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            let pair = pair.trim_ascii();
            let split = memchr::memchr(b'=', pair).map(|at| pair.split_at(at));
            match split {
                Some((n, token)) if n.trim_ascii() == name => {
                    if found.is_some() {
                        return Err(AuthnError::DuplicateCookie);
                    }
                    let token = token[1..].trim_ascii();
                    let start = token.iter().position(|&b| b != b'"');
                    let end = token.iter().rposition(|&b| b != b'"');
                    found = Some(match (start, end) {
                        (Some(start), Some(end)) => &token[start..=end],
                        _ => &[],
                    });
                }
                _ => others |= !pair.is_empty(),
            }
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
    }
    match found.filter(|t| !t.is_empty()) {
        Some(token) => Ok((token, !others)),
        None => Err(AuthnError::Missing),
    }
}

/// Verifies session JWTs: EdDSA only; `exp`, `iss`, `aud` required.
/// Successful verifications are remembered in a [`TokenCache`] (see its
/// rules: keyed by the token's hash, never past `exp`, dropped on any
/// key-set change).
#[derive(Debug)]
pub struct Verifier {
    validation: Validation,
    cache: TokenCache,
}

impl Verifier {
    /// A verifier with a verified-token cache of the default capacity.
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self::with_cache(issuer, audience, token_cache::DEFAULT_CAPACITY)
    }

    /// A verifier remembering up to `capacity` verified tokens (0: none).
    pub fn with_cache(issuer: &str, audience: &str, capacity: usize) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Verifier {
            validation,
            cache: TokenCache::new(capacity),
        }
    }

    /// Whether verifications are remembered (`token_cache_capacity` > 0).
    pub fn remembers(&self) -> bool {
        self.cache.capacity() > 0
    }

    /// Verify `token`, from the cache when this exact token was verified
    /// under the current keys and has not expired.
    pub fn verify(&self, keys: &KeyRing, token: &str) -> Result<Arc<SessionClaims>, AuthnError> {
        self.verify_at(keys, token, token_cache::unix_now())
    }

    /// [`Self::verify`] at `now` (Unix seconds, read by the caller).
    pub fn verify_at(
        &self,
        keys: &KeyRing,
        token: &str,
        now: i64,
    ) -> Result<Arc<SessionClaims>, AuthnError> {
        let hash = token_cache::token_hash(token);
        // Read before the keys are: a verification racing a key change is
        // recorded under the older generation, and so not served after it.
        let generation = keys.generation();
        if let Some(claims) = self.cache.get(&hash, generation, now) {
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_signature(keys, token)?);
        self.cache.insert(hash, claims.clone(), generation, now);
        Ok(claims)
    }

    /// The full check, signature included, without the cache.
    pub fn verify_signature(
        &self,
        keys: &KeyRing,
        token: &str,
    ) -> Result<SessionClaims, AuthnError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthnError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthnError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| keys.get(kid))
            .ok_or(AuthnError::UnknownKey)?;
        jsonwebtoken::decode::<SessionClaims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AuthnError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(
                COOKIE,
                HeaderValue::from_str(c).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let h = headers(&["a=1; s=tok; b=2"]);
        assert_eq!(session_token(&h, "s"), Ok("tok"));
        assert_eq!(session_token(&h, "missing"), Err(AuthnError::Missing));
        assert_eq!(session_cookie(&h, "s"), Ok((&b"tok"[..], false)));
        let alone = headers(&["s=tok", " ; "]);
        assert_eq!(session_cookie(&alone, "s"), Ok((&b"tok"[..], true)));
        let spaced = headers(&["\ts = \"tok\" ;b=2"]);
        assert_eq!(session_cookie(&spaced, "s"), Ok((&b"tok"[..], false)));
        assert_eq!(
            session_cookie(&headers(&["s=\"\""]), "s"),
            Err(AuthnError::Missing)
        );
        // Found as bytes; a token that is not UTF-8 is invalid, not absent.
        let mut odd = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(b"a=1; s=\xfftok") {
            odd.append(COOKIE, v);
        }
        assert_eq!(session_cookie(&odd, "s"), Ok((&b"\xfftok"[..], false)));
        assert_eq!(session_token(&odd, "s"), Err(AuthnError::Invalid));
    }

    #[test]
    fn refuses_duplicates_in_one_header_or_across_headers() {
        assert_eq!(
            session_token(&headers(&["s=a; s=b"]), "s"),
            Err(AuthnError::DuplicateCookie)
        );
        assert_eq!(
            session_token(&headers(&["s=a", "s=b"]), "s"),
            Err(AuthnError::DuplicateCookie)
        );
    }
}
