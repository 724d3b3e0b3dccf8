//! Logout tokens made with a test P-256 key, checked as §2.6 says.

use super::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

/// Test-only P-256 keys, PKCS#8 DER in base64 (never used anywhere else).
const KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ4E08pYvnLqJs5DsKzw/zTnVutBRmB6QmxyUh+lngYuhRANCAAR1ZMXr3KE3nfl4/1sazbGaDyvX1DGXqnzk5uFpd68m/5g3uRv6rm5VyFvgnNGBbr2SPNPKHa+2bQBgU6PLiBsy";
const OTHER_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCM2iT9y2WUvYpNBH/GOBW48c7iwR0wNOnqdvU5PGGxGhRANCAAT8TvCC7/2KcobSSbEaH9JvYQ/yGFsZz0YC4/nB2eUebnGxfVo6zcC0DjZU2wbxzH6Fxp8EgHEZ8yJj/Cr16bSl";

const ISSUER: &str = "https://idp.example.com";
const CLIENT: &str = "client-1";
const NOW: i64 = 1_800_000_000;

fn encoding(der: &str) -> EncodingKey {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .unwrap();
    EncodingKey::from_ec_der(&der)
}

fn keys() -> JwkSet {
    let mut jwk = Jwk::from_encoding_key(&encoding(KEY), Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".to_string());
    JwkSet { keys: vec![jwk] }
}

fn claims() -> serde_json::Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": NOW - 10,
        "jti": "j-1",
        "sub": "user-1",
        "sid": "sid-1",
        "events": { LOGOUT_EVENT: {} },
    })
}

fn token_with(der: &str, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &encoding(der)).unwrap()
}

fn token(claims: &serde_json::Value) -> String {
    token_with(KEY, Some("k1"), claims)
}

fn check(token: &str) -> Result<LogoutClaims, LogoutError> {
    verify(token, &keys(), ISSUER, CLIENT, NOW)
}

#[test]
fn a_valid_token_names_its_session_and_subject() {
    assert_eq!(
        check(&token(&claims())),
        Ok(LogoutClaims {
            sid: Some("sid-1".into()),
            sub: Some("user-1".into())
        })
    );
    let mut only_sub = claims();
    only_sub.as_object_mut().unwrap().remove("sid");
    assert_eq!(check(&token(&only_sub)).unwrap().sid, None);
    let mut only_sid = claims();
    only_sid.as_object_mut().unwrap().remove("sub");
    assert_eq!(check(&token(&only_sid)).unwrap().sub, None);
    // No `kid` with a single key: that key.
    assert!(check(&token_with(KEY, None, &claims())).is_ok());
}

#[test]
fn issuer_audience_and_signature_must_match() {
    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    assert!(matches!(check(&token(&c)), Err(LogoutError::Invalid(_))));
    let mut c = claims();
    c["aud"] = json!("another-client");
    assert!(matches!(check(&token(&c)), Err(LogoutError::Invalid(_))));
    // Signed by another key under the known `kid`.
    assert!(matches!(
        check(&token_with(OTHER_KEY, Some("k1"), &claims())),
        Err(LogoutError::Invalid(_))
    ));
    assert_eq!(
        check(&token_with(KEY, Some("k2"), &claims())),
        Err(LogoutError::UnknownKey)
    );
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"shared"),
    )
    .unwrap();
    assert_eq!(check(&hmac), Err(LogoutError::Algorithm));
    assert_eq!(check("not.a.jwt"), Err(LogoutError::Malformed));
}

#[test]
fn the_logout_claims_are_required() {
    let without = |name: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        check(&token(&c))
    };
    assert_eq!(without("jti"), Err(LogoutError::NoJti));
    assert_eq!(without("events"), Err(LogoutError::NoEvent));
    assert_eq!(without("iat"), Err(LogoutError::Stale));
    let mut c = claims();
    c["events"] = json!({ "http://schemas.openid.net/event/other": {} });
    assert_eq!(check(&token(&c)), Err(LogoutError::NoEvent));
    let mut c = claims();
    c["nonce"] = json!("n");
    assert_eq!(check(&token(&c)), Err(LogoutError::Nonce));
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sid");
    c.as_object_mut().unwrap().remove("sub");
    assert_eq!(check(&token(&c)), Err(LogoutError::NoSubject));
}

#[test]
fn old_or_future_tokens_are_refused() {
    let mut c = claims();
    c["iat"] = json!(NOW - MAX_AGE_SECS - 1);
    assert_eq!(check(&token(&c)), Err(LogoutError::Stale));
    let mut c = claims();
    c["iat"] = json!(NOW + 600);
    assert_eq!(check(&token(&c)), Err(LogoutError::Stale));
}
