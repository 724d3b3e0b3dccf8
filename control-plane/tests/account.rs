//! A person's own email over HTTP, on SQLite and on Postgres: the
//! verification link mailed at sign-up (opening it changes nothing, the
//! button verifies, a reused, wrong, replaced or expired link changes
//! nothing) and a change of email (verified at the new address before it
//! counts).

mod account_support;
mod common;

use account_support::{PASSWORD, on_both};
use common::TestResult;
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn the_signup_link_verifies_once_and_only_when_pressed() -> TestResult {
    on_both(
        |_| {},
        |env| async move {
            let ann = env.sign_up("ann@example.com").await?;
            let (s, me) = env.account(&ann.token).await?;
            assert_eq!(s, StatusCode::OK, "{me}");
            assert_eq!(me["email"], "ann@example.com");
            assert_eq!(me["email_verified"], false);
            assert_eq!(me["pending_email"], Value::Null);
            let mails = env.mails("verify_email", "ann@example.com").await?;
            assert_eq!(mails.len(), 1);
            assert_eq!(mails[0]["change"], false);
            let token = env
                .new_token("verify_email", "ann@example.com", &[])
                .await?;

            // Opening the link (as a mail scanner would) verifies nothing.
            let (s, html) = env
                .page(&format!("/.wrnexus/verify-email?token={token}"))
                .await?;
            assert_eq!(s, StatusCode::OK);
            assert!(html.contains("Verify my email"), "{html}");
            assert_eq!(env.account(&ann.token).await?.1["email_verified"], false);

            // A wrong token changes nothing.
            let (s, html) = env
                .form("/.wrnexus/verify-email", &[("token", "not-a-token")])
                .await?;
            assert_eq!(s, StatusCode::BAD_REQUEST);
            assert!(html.contains("cannot be used"), "{html}");
            assert_eq!(env.account(&ann.token).await?.1["email_verified"], false);

            // Pressing the button verifies.
            let (s, html) = env
                .form("/.wrnexus/verify-email", &[("token", &token)])
                .await?;
            assert_eq!(s, StatusCode::OK, "{html}");
            assert!(html.contains("Email verified"), "{html}");
            assert_eq!(env.account(&ann.token).await?.1["email_verified"], true);

            // Used once: a second use is refused, as JSON too.
            let res = env
                .json("/.wrnexus/verify-email", json!({ "token": token }))
                .await?;
            assert_eq!(res.status(), StatusCode::CONFLICT);
            let body: Value = res.json().await?;
            assert_eq!(code(&body), "token_used");
            let (s, _) = env
                .page(&format!("/.wrnexus/verify-email?token={token}"))
                .await?;
            assert_eq!(s, StatusCode::CONFLICT);
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_fresh_link_replaces_the_old_one_and_keys_cannot_ask() -> TestResult {
    on_both(
        |_| {},
        |env| async move {
            let bea = env.sign_up("bea@example.com").await?;
            let first = env
                .new_token("verify_email", "bea@example.com", &[])
                .await?;
            let (s, b) = env
                .call(Method::POST, "/account/verification", &bea.token, None)
                .await?;
            assert_eq!(s, StatusCode::ACCEPTED, "{b}");
            let second = env
                .new_token(
                    "verify_email",
                    "bea@example.com",
                    std::slice::from_ref(&first),
                )
                .await?;
            let res = env
                .json("/.wrnexus/verify-email", json!({ "token": first }))
                .await?;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert_eq!(code(&res.json().await?), "token_invalid");
            assert_eq!(env.account(&bea.token).await?.1["email_verified"], false);
            let res = env
                .json("/.wrnexus/verify-email", json!({ "token": second }))
                .await?;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await?;
            assert_eq!(body["email_verified"], true);
            assert_eq!(env.account(&bea.token).await?.1["email_verified"], true);

            // An API key acts for no person: the account endpoints refuse it.
            let (s, key) = env
                .call(
                    Method::POST,
                    &format!("/workspaces/{}/api-keys", bea.personal),
                    &bea.token,
                    Some(json!({ "name": "ci", "role": "admin" })),
                )
                .await?;
            assert_eq!(s, StatusCode::CREATED, "{key}");
            let secret = key["secret"].as_str().ok_or("secret")?;
            let (s, b) = env.account(secret).await?;
            assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
            assert_eq!(code(&b), "user_required");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn an_expired_link_changes_nothing() -> TestResult {
    on_both(
        |c| {
            c.verification_ttl_secs = 0;
            c.reset_ttl_secs = 0;
        },
        |env| async move {
            let cid = env.sign_up("cid@example.com").await?;
            let token = env
                .new_token("verify_email", "cid@example.com", &[])
                .await?;
            let (s, html) = env
                .page(&format!("/.wrnexus/verify-email?token={token}"))
                .await?;
            assert_eq!(s, StatusCode::CONFLICT);
            assert!(html.contains("expired"), "{html}");
            let res = env
                .json("/.wrnexus/verify-email", json!({ "token": token }))
                .await?;
            assert_eq!(code(&res.json().await?), "token_expired");
            assert_eq!(env.account(&cid.token).await?.1["email_verified"], false);

            let res = env
                .json(
                    "/.wrnexus/forgot-password",
                    json!({ "email": "cid@example.com" }),
                )
                .await?;
            assert_eq!(res.status(), StatusCode::ACCEPTED);
            let reset = env
                .new_token("reset_password", "cid@example.com", &[])
                .await?;
            let res = env
                .json(
                    "/.wrnexus/reset-password",
                    json!({ "token": reset, "password": "a brand new passphrase" }),
                )
                .await?;
            assert_eq!(code(&res.json().await?), "token_expired");
            assert_eq!(
                env.sign_in("cid@example.com", PASSWORD).await?.0,
                StatusCode::OK
            );
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_new_email_counts_only_once_verified_there() -> TestResult {
    on_both(|_| {}, |env| async move {
        let hal = env.sign_up("hal@example.com").await?;
        env.sign_up("taken@example.com").await?;
        let change = |email: &str, password: &str| {
            json!({ "email": email, "current_password": password })
        };
        let (s, b) = env
            .call(
                Method::POST,
                "/account/email",
                &hal.token,
                Some(change("new@example.com", "wrong password!")),
            )
            .await?;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(code(&b), "wrong_password");
        let (s, b) = env
            .call(
                Method::POST,
                "/account/email",
                &hal.token,
                Some(change("taken@example.com", PASSWORD)),
            )
            .await?;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&b), "email_taken");
        assert!(env.mails("verify_email", "new@example.com").await?.is_empty());

        let (s, b) = env
            .call(
                Method::POST,
                "/account/email",
                &hal.token,
                Some(change("New@Example.com", PASSWORD)),
            )
            .await?;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let (_, me) = env.account(&hal.token).await?;
        assert_eq!(me["email"], "hal@example.com");
        assert_eq!(me["pending_email"], "new@example.com");
        let mails = env.mails("verify_email", "new@example.com").await?;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0]["change"], true);
        let token = env.new_token("verify_email", "new@example.com", &[]).await?;
        let (s, html) = env.form("/.wrnexus/verify-email", &[("token", &token)]).await?;
        assert_eq!(s, StatusCode::OK, "{html}");
        assert!(html.contains("Email changed"), "{html}");
        let (_, me) = env.account(&hal.token).await?;
        assert_eq!(me["email"], "new@example.com");
        assert_eq!(me["email_verified"], true);
        assert_eq!(me["pending_email"], Value::Null);
        assert_eq!(env.sign_in("new@example.com", PASSWORD).await?.0, StatusCode::OK);
        assert_eq!(
            env.sign_in("hal@example.com", PASSWORD).await?.0,
            StatusCode::UNAUTHORIZED
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_sign_in_page_offers_forgot_password() -> TestResult {
    on_both(
        |_| {},
        |env| async move {
            let (s, html) = env.page("/.wrnexus/signin?return_to=%2Fdocs").await?;
            assert_eq!(s, StatusCode::OK);
            assert!(
                html.contains("/.wrnexus/forgot-password?return_to=/docs"),
                "{html}"
            );
            let (s, html) = env
                .page("/.wrnexus/forgot-password?return_to=/docs")
                .await?;
            assert_eq!(s, StatusCode::OK);
            assert!(html.contains("Send reset link"), "{html}");
            Ok(())
        },
    )
    .await
}
