//! A person's own password over HTTP, on SQLite and on Postgres: "forgot
//! password" (the same answer for an unknown email, and no mail), the
//! reset link (every session ends, the new password works, the old one
//! does not, the link works once) and a change of password (the other
//! sessions end, this one stays).

mod account_support;
mod common;

use account_support::{PASSWORD, on_both};
use common::TestResult;
use common::http::session_token;
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn forgot_password_answers_the_same_and_mails_only_a_real_account() -> TestResult {
    on_both(
        |_| {},
        |env| async move {
            env.sign_up("dee@example.com").await?;
            let (known_status, known) = env
                .form("/.wrnexus/forgot-password", &[("email", "dee@example.com")])
                .await?;
            let (unknown_status, unknown) = env
                .form(
                    "/.wrnexus/forgot-password",
                    &[("email", "nobody@example.com")],
                )
                .await?;
            assert_eq!(known_status, StatusCode::OK);
            assert_eq!(unknown_status, known_status);
            assert_eq!(
                unknown.replace("nobody@example.com", "X"),
                known.replace("dee@example.com", "X")
            );
            assert!(known.contains("If an account uses"), "{known}");
            // Queued after the answer (which so takes as long either way).
            env.new_token("reset_password", "dee@example.com", &[])
                .await?;
            assert!(
                env.mails("reset_password", "nobody@example.com")
                    .await?
                    .is_empty()
            );
            let res = env
                .json(
                    "/.wrnexus/forgot-password",
                    json!({ "email": "nobody@example.com" }),
                )
                .await?;
            assert_eq!(res.status(), StatusCode::ACCEPTED);
            assert!(
                env.mails("reset_password", "nobody@example.com")
                    .await?
                    .is_empty()
            );

            // Per email, then 429 with Retry-After (the same for anyone).
            let mut last = StatusCode::OK;
            for _ in 0..6 {
                let res = env
                    .json(
                        "/.wrnexus/forgot-password",
                        json!({ "email": "eve@example.com" }),
                    )
                    .await?;
                last = res.status();
                if last == StatusCode::TOO_MANY_REQUESTS {
                    assert!(res.headers().contains_key("retry-after"));
                    break;
                }
            }
            assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_reset_ends_every_session_and_works_once() -> TestResult {
    on_both(
        |c| c.rate_limits.signin_per_minute = 20,
        |env| async move {
            let fay = env.sign_up("fay@example.com").await?;
            let (_, laptop) = env.sign_in("fay@example.com", PASSWORD).await?;
            env.form("/.wrnexus/forgot-password", &[("email", "fay@example.com")])
                .await?;
            let token = env
                .new_token("reset_password", "fay@example.com", &[])
                .await?;
            let (s, html) = env
                .page(&format!("/.wrnexus/reset-password?token={token}"))
                .await?;
            assert_eq!(s, StatusCode::OK);
            assert!(html.contains("At least"), "{html}");

            // A weak password: refused, the link still usable.
            let (s, html) = env
                .form(
                    "/.wrnexus/reset-password",
                    &[("token", &token), ("password", "short")],
                )
                .await?;
            assert_eq!(s, StatusCode::BAD_REQUEST);
            assert!(html.contains(&token), "the form keeps its token");
            assert_eq!(env.account(&laptop).await?.0, StatusCode::OK);

            let new = "a brand new passphrase";
            let res = env
                .json(
                    "/.wrnexus/reset-password",
                    json!({ "token": token, "password": new }),
                )
                .await?;
            assert_eq!(res.status(), StatusCode::OK);
            let fresh = session_token(&res)?;
            for old in [&fay.token, &laptop] {
                assert_eq!(env.account(old).await?.0, StatusCode::UNAUTHORIZED);
            }
            let (s, me) = env.account(&fresh).await?;
            assert_eq!(s, StatusCode::OK);
            // The link reached the address: it counts as verified.
            assert_eq!(me["email_verified"], true);
            assert_eq!(
                env.sign_in("fay@example.com", PASSWORD).await?.0,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(env.sign_in("fay@example.com", new).await?.0, StatusCode::OK);
            assert_eq!(
                env.mails("password_changed", "fay@example.com")
                    .await?
                    .len(),
                1
            );

            // Once only.
            let res = env
                .json(
                    "/.wrnexus/reset-password",
                    json!({ "token": token, "password": "yet another passphrase" }),
                )
                .await?;
            assert_eq!(res.status(), StatusCode::CONFLICT);
            assert_eq!(code(&res.json().await?), "token_used");
            assert_eq!(env.sign_in("fay@example.com", new).await?.0, StatusCode::OK);
            let (s, html) = env
                .form(
                    "/.wrnexus/reset-password",
                    &[("token", "forged"), ("password", new)],
                )
                .await?;
            assert_eq!(s, StatusCode::BAD_REQUEST);
            assert!(html.contains("Send a new link"), "{html}");

            // The audit log of the personal workspace says what happened.
            let (s, audit) = env
                .call(
                    Method::GET,
                    &format!("/workspaces/{}/audit", fay.personal),
                    &fresh,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::OK, "{audit}");
            let text = audit.to_string();
            assert!(text.contains("user.password_reset"), "{text}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_others() -> TestResult {
    on_both(|_| {}, |env| async move {
        let gus = env.sign_up("gus@example.com").await?;
        let (_, phone) = env.sign_in("gus@example.com", PASSWORD).await?;
        let change = |current: &str, new: &str| {
            json!({ "current_password": current, "new_password": new })
        };
        let (s, b) = env
            .call(
                Method::POST,
                "/account/password",
                &gus.token,
                Some(change("wrong password!", "a brand new passphrase")),
            )
            .await?;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(code(&b), "wrong_password");
        assert_eq!(b["field"], "current_password");
        let (s, b) = env
            .call(Method::POST, "/account/password", &gus.token, Some(change(PASSWORD, "short")))
            .await?;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(code(&b), "weak_password");
        assert_eq!(env.account(&phone).await?.0, StatusCode::OK);

        let new = "a brand new passphrase";
        let (s, b) = env
            .call(Method::POST, "/account/password", &gus.token, Some(change(PASSWORD, new)))
            .await?;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        assert_eq!(env.account(&gus.token).await?.0, StatusCode::OK);
        assert_eq!(env.account(&phone).await?.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            env.sign_in("gus@example.com", PASSWORD).await?.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(env.sign_in("gus@example.com", new).await?.0, StatusCode::OK);
        assert_eq!(env.mails("password_changed", "gus@example.com").await?.len(), 1);
        Ok(())
    })
    .await
}
