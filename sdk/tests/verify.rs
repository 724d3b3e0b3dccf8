//! What an app behind the SDK accepts and refuses: tokens signed the way
//! the gateway signs them (its own `AssertionKey`), verified with a static
//! JWKS, through the layer and through the extractor alone.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    TestResult, assert_refused, call, claims, jwks_json, layered_app, new_key, now, static_app,
};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wrnexus_policies::model::Role;
use wrnexus_sdk::{GatewayContext, Verifier};

const AUD: &str = wrnexus_sdk::DEFAULT_AUDIENCE;

#[tokio::test]
async fn gateway_signed_assertions_give_the_app_its_context() -> TestResult {
    let key = new_key()?;
    let verifier = Verifier::from_jwks_json(&jwks_json(&[&key])?, AUD)?;
    let hits = Arc::new(AtomicUsize::new(0));
    let app = layered_app(verifier, hits.clone());

    let mut c = claims("user-alice", "ws-alpha", Role::Admin);
    c.rid = "req-42".into();
    let token = key.sign(&c)?;
    // Plain identity headers claiming someone else change nothing.
    let spoofed = [("x-user-id", "user-mallory"), ("x-workspace-id", "ws-evil")];
    let (status, _, body) = call(&app, "/whoami", Some(&token), &spoofed).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "user-alice");
    assert_eq!(body["api_key_id"], Value::Null);
    assert_eq!(body["principal"]["kind"], "user");
    assert_eq!(body["workspace_id"], "ws-alpha");
    assert_eq!(body["role"], "admin");
    assert_eq!(body["request_id"], "req-42");

    let mut c = claims("key-7", "ws-beta", Role::Viewer);
    c.kind = "api_key".into();
    let (status, _, body) = call(&app, "/whoami", Some(&key.sign(&c)?), &[]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["api_key_id"], "key-7");
    assert_eq!(body["user_id"], Value::Null);
    assert_eq!(body["workspace_id"], "ws-beta");
    assert_eq!(body["role"], "viewer");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn requests_that_bypassed_the_gateway_are_refused() -> TestResult {
    let key = new_key()?;
    let verifier = Verifier::from_jwks_json(&jwks_json(&[&key])?, AUD)?;
    let hits = Arc::new(AtomicUsize::new(0));
    let app = layered_app(verifier, hits.clone());
    let spoofed = [
        ("x-user-id", "user-alice"),
        ("x-workspace-id", "ws-alpha"),
        ("x-workspace-role", "owner"),
    ];
    let answer = call(&app, "/whoami", None, &spoofed).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "not_through_gateway")?;
    let answer = call(&app, "/whoami", Some(""), &spoofed).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "not_through_gateway")?;
    let answer = call(&app, "/whoami", Some("not-a-jwt"), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused request reached the app"
    );
    Ok(())
}

/// `token` with its payload replaced by `edit` of the claims, keeping the
/// original signature.
fn tampered(token: &str, edit: impl FnOnce(&mut Value)) -> TestResult<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
    edit(&mut payload);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload)?);
    Ok(format!("{}.{payload}.{}", parts[0], parts[2]))
}

#[tokio::test]
async fn forged_and_misdirected_assertions_are_refused() -> TestResult {
    let key = new_key()?;
    let app = static_app(&[&key], AUD)?;
    let token = key.sign(&claims("user-bob", "ws-bob", Role::Viewer))?;
    let (status, _, _) = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_eq!(status, StatusCode::OK, "the untampered token is fine");

    // Raised to owner of another workspace, signature kept.
    let forged = tampered(&token, |p| {
        p["wid"] = "ws-victim".into();
        p["role"] = "owner".into();
    })?;
    let answer = call(&app, "/whoami", Some(&forged), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;
    assert_eq!(
        answer.2["detail"],
        "the gateway assertion is invalid: bad signature"
    );

    // Signed for another app.
    let mut c = claims("user-bob", "ws-bob", Role::Viewer);
    c.aud = "billing-app".into();
    let other_app = key.sign(&c)?;
    let answer = call(&app, "/whoami", Some(&other_app), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;
    assert_eq!(
        answer.2["detail"],
        "the gateway assertion is invalid: wrong audience"
    );
    // ... which that app, configured with its audience, accepts.
    let billing = static_app(&[&key], "billing-app")?;
    let (status, _, body) = call(&billing, "/whoami", Some(&other_app), &[]).await?;
    assert_eq!(
        (status, &body["user_id"]),
        (StatusCode::OK, &"user-bob".into())
    );

    // Not issued by the gateway.
    let mut c = claims("user-bob", "ws-bob", Role::Viewer);
    c.iss = "someone-else".into();
    let answer = call(&app, "/whoami", Some(&key.sign(&c)?), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;

    // HS256 "signed" with the public key bytes: no algorithm confusion.
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let secret = jsonwebtoken::EncodingKey::from_secret(jwks_json(&[&key])?.as_bytes());
    let hs = jsonwebtoken::encode(&header, &claims("u", "w", Role::Owner), &secret)?;
    let answer = call(&app, "/whoami", Some(&hs), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;
    Ok(())
}

#[tokio::test]
async fn expired_assertions_are_refused_beyond_a_small_leeway() -> TestResult {
    let key = new_key()?;
    let app = static_app(&[&key], AUD)?;
    let mut c = claims("user-carol", "ws-carol", Role::Member);
    c.iat = now() - 120;
    c.exp = now() - 30;
    let answer = call(&app, "/whoami", Some(&key.sign(&c)?), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "assertion_expired")?;
    // A couple of seconds of clock skew are tolerated.
    c.exp = now() - 2;
    let (status, _, body) = call(&app, "/whoami", Some(&key.sign(&c)?), &[]).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(())
}

#[tokio::test]
async fn assertions_signed_with_an_unknown_key_are_refused() -> TestResult {
    let (key, stranger) = (new_key()?, new_key()?);
    let app = static_app(&[&key], AUD)?;
    let token = stranger.sign(&claims("user-dave", "ws-dave", Role::Owner))?;
    let answer = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "unknown_assertion_key")?;
    // Our key id, another key's signature: a bad signature.
    let own = key.sign(&claims("user-dave", "ws-dave", Role::Owner))?;
    let (signed_part, _) = own.rsplit_once('.').ok_or("no signature")?;
    let (_, stranger_sig) = token.rsplit_once('.').ok_or("no signature")?;
    let mixed = format!("{signed_part}.{stranger_sig}");
    let answer = call(&app, "/whoami", Some(&mixed), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;
    Ok(())
}

#[tokio::test]
async fn the_extractor_alone_protects_only_its_handlers() -> TestResult {
    let key = new_key()?;
    let verifier = Verifier::from_jwks_json(&jwks_json(&[&key])?, AUD)?;
    let app = Router::new()
        .route("/whoami", get(common::whoami))
        .route(
            "/hello",
            get(|ctx: Option<GatewayContext>| async move {
                axum::Json(ctx.map(|c| c.principal.id().to_string()))
            }),
        )
        .route("/health", get(|| async { axum::Json("ok") }))
        .layer(axum::Extension(verifier));
    let token = key.sign(&claims("user-erin", "ws-erin", Role::Member))?;

    let (status, _, body) = call(&app, "/whoami", Some(&token), &[]).await?;
    assert_eq!(
        (status, &body["user_id"]),
        (StatusCode::OK, &"user-erin".into())
    );
    let answer = call(&app, "/whoami", None, &[("x-user-id", "user-erin")]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "not_through_gateway")?;
    // Optional: anonymous is fine, a bad assertion is not.
    let (status, _, body) = call(&app, "/hello", None, &[]).await?;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    let (status, _, body) = call(&app, "/hello", Some(&token), &[]).await?;
    assert_eq!((status, body), (StatusCode::OK, "user-erin".into()));
    let forged = tampered(&token, |p| p["sub"] = "user-root".into())?;
    let answer = call(&app, "/hello", Some(&forged), &[]).await?;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_assertion")?;
    let (status, _, _) = call(&app, "/health", None, &[]).await?;
    assert_eq!(status, StatusCode::OK);

    // Wired without a verifier: a server error, never a pass.
    let bare = Router::new().route("/whoami", get(common::whoami));
    let answer = call(&bare, "/whoami", Some(&token), &[]).await?;
    assert_refused(
        &answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "sdk_not_configured",
    )?;
    Ok(())
}

#[test]
fn a_jwks_without_a_usable_key_is_a_configuration_error() {
    assert!(Verifier::from_jwks_json(r#"{"keys": []}"#, AUD).is_err());
    assert!(Verifier::from_jwks_json("not json", AUD).is_err());
    assert!(Verifier::remote("ftp://example.com/keys", AUD).is_err());
}
