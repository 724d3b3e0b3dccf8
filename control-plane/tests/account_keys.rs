//! A person's verified email and their API keys, on SQLite and on
//! Postgres: a deployment requiring verified email gives an unverified
//! person no key (a key would carry them past the gateway's check); a
//! workspace policy reading `context.email_verified` governs the management
//! API too; a password reset revokes every key behind a person whose email
//! had not been verified (someone else may have signed up with it), and
//! none of a verified person's.

mod account_support;
mod common;

use account_support::{Env, on_both};
use common::TestResult;
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use wrnexus_policies::PolicySource;

/// Make an API key in `workspace` as `bearer`: status and body.
async fn make_key(env: &Env, bearer: &str, workspace: &str) -> TestResult<(StatusCode, Value)> {
    env.call(
        Method::POST,
        &format!("/workspaces/{workspace}/api-keys"),
        bearer,
        Some(json!({ "name": "ci", "role_ceiling": "admin" })),
    )
    .await
}

/// Press the verification link mailed to `email` at sign-up.
async fn verify(env: &Env, email: &str) -> TestResult {
    let token = env.new_token("verify_email", email, &[]).await?;
    let res = env
        .json("/.wrnexus/verify-email", json!({ "token": token }))
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}

/// "Forgot password" and the mailed link used: the new session token.
async fn reset(env: &Env, email: &str) -> TestResult<String> {
    let res = env
        .json("/.wrnexus/forgot-password", json!({ "email": email }))
        .await?;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = env.new_token("reset_password", email, &[]).await?;
    let res = env
        .json(
            "/.wrnexus/reset-password",
            json!({ "token": token, "password": "a brand new passphrase" }),
        )
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    common::http::session_token(&res)
}

#[tokio::test]
async fn an_unverified_person_gets_no_key_where_verified_email_is_required() -> TestResult {
    on_both(
        |c| c.require_verified_email = true,
        |env| async move {
            let ida = env.sign_up("ida@example.com").await?;
            let (s, b) = make_key(&env, &ida.token, &ida.personal).await?;
            assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
            assert_eq!(code(&b), "email_unverified");
            let detail = b["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("verify your email"), "{detail}");
            let (s, keys) = env
                .call(
                    Method::GET,
                    &format!("/workspaces/{}/api-keys", ida.personal),
                    &ida.token,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::OK, "{keys}");
            assert_eq!(keys["api_keys"], json!([]));

            verify(&env, "ida@example.com").await?;
            let (s, b) = make_key(&env, &ida.token, &ida.personal).await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn without_the_requirement_an_unverified_person_may_make_keys() -> TestResult {
    on_both(
        |_| {},
        |env| async move {
            let jo = env.sign_up("jo@example.com").await?;
            let (s, b) = make_key(&env, &jo.token, &jo.personal).await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            Ok(())
        },
    )
    .await
}

/// The shipped policies and a rule refusing unverified people everywhere.
fn policies_requiring_verified_email(dir: &Path) -> TestResult<PathBuf> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let out = dir.join("policies");
    std::fs::create_dir_all(&out)?;
    for entry in std::fs::read_dir(&shipped)? {
        let path = entry?.path();
        let wanted = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("cedar" | "cedarschema")
        );
        if wanted && let Some(name) = path.file_name() {
            std::fs::copy(&path, out.join(name))?;
        }
    }
    std::fs::write(
        out.join("verified.cedar"),
        "// Only people who verified their email.\n\
         @id(\"require-verified-email\")\n@code(\"email_unverified\")\n\
         forbid (principal is WRNexus::User, action, resource)\n\
         when { !context.email_verified };\n",
    )?;
    Ok(out)
}

#[tokio::test]
async fn a_policy_reading_email_verified_governs_the_management_api() -> TestResult {
    let dir = tempfile::tempdir()?;
    let policies = policies_requiring_verified_email(dir.path())?;
    on_both(
        |c| c.policies = PolicySource::Dir(policies.clone()),
        |env| async move {
            let kim = env.sign_up("kim@example.com").await?;
            let members = format!("/workspaces/{}/members", kim.personal);
            let (s, b) = env.call(Method::GET, &members, &kim.token, None).await?;
            assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
            assert_eq!(code(&b), "email_unverified");
            let detail = b["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("requires a verified email"), "{detail}");
            let (s, b) = make_key(&env, &kim.token, &kim.personal).await?;
            assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
            assert_eq!(code(&b), "email_unverified");

            verify(&env, "kim@example.com").await?;
            let (s, b) = env.call(Method::GET, &members, &kim.token, None).await?;
            assert_eq!(s, StatusCode::OK, "{b}");
            // A key stands for no email: the rule does not apply to it.
            let (s, key) = make_key(&env, &kim.token, &kim.personal).await?;
            assert_eq!(s, StatusCode::CREATED, "{key}");
            let secret = key["secret"].as_str().ok_or("secret")?;
            let (s, b) = env.call(Method::GET, &members, secret, None).await?;
            assert_eq!(s, StatusCode::OK, "{b}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_reset_revokes_the_keys_made_before_the_email_was_verified() -> TestResult {
    on_both(
        |c| c.rate_limits.signin_per_minute = 20,
        |env| async move {
            // Someone signs up with Lea's address and makes a key.
            let squatter = env.sign_up("lea@example.com").await?;
            let (s, key) = make_key(&env, &squatter.token, &squatter.personal).await?;
            assert_eq!(s, StatusCode::CREATED, "{key}");
            let secret = key["secret"].as_str().ok_or("secret")?.to_string();
            let keys = format!("/workspaces/{}/api-keys", squatter.personal);
            assert_eq!(
                env.call(Method::GET, &keys, &secret, None).await?.0,
                StatusCode::OK
            );

            // Lea takes the account back through "forgot password".
            let lea = reset(&env, "lea@example.com").await?;
            let (s, b) = env.call(Method::GET, &keys, &secret, None).await?;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
            assert_eq!(code(&b), "invalid_api_key");
            let (s, listed) = env.call(Method::GET, &keys, &lea, None).await?;
            assert_eq!(s, StatusCode::OK, "{listed}");
            assert!(listed["api_keys"][0]["revoked_at"].is_i64(), "{listed}");
            let (s, audit) = env
                .call(
                    Method::GET,
                    &format!("/workspaces/{}/audit", squatter.personal),
                    &lea,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::OK, "{audit}");
            let text = audit.to_string();
            assert!(text.contains("api_key.revoked"), "{text}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_reset_keeps_a_verified_persons_keys() -> TestResult {
    on_both(
        |c| c.rate_limits.signin_per_minute = 20,
        |env| async move {
            let max = env.sign_up("max@example.com").await?;
            verify(&env, "max@example.com").await?;
            let (s, key) = make_key(&env, &max.token, &max.personal).await?;
            assert_eq!(s, StatusCode::CREATED, "{key}");
            let secret = key["secret"].as_str().ok_or("secret")?.to_string();
            reset(&env, "max@example.com").await?;
            let keys = format!("/workspaces/{}/api-keys", max.personal);
            let (s, b) = env.call(Method::GET, &keys, &secret, None).await?;
            assert_eq!(s, StatusCode::OK, "{b}");
            Ok(())
        },
    )
    .await
}
