//! Invitations under pressure, over HTTP on SQLite and on Postgres: how
//! many may be mailed (per acting admin or key, and per address), and an
//! invitation accepted and declined at the same moment.

mod common;

use common::TestResult;
use common::http::{Api, User, on_both, on_both_with};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Invite `email` into `workspace` as `role`: the invitation's id and token.
async fn invite(
    api: &Api,
    by: &User,
    workspace: &str,
    email: &str,
    role: &str,
) -> TestResult<(String, String)> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/invitations"),
            &by.token,
            Some(json!({ "email": email, "role": role })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["invitation"]["id"].as_str().ok_or("id")?.to_string();
    let token = b["token"].as_str().ok_or("token")?.to_string();
    Ok((id, token))
}

async fn open_list(api: &Api, by: &User, workspace: &str) -> TestResult<Vec<Value>> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/invitations"),
            &by.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["invitations"].as_array().ok_or("invitations")?.clone())
}

async fn member_emails(api: &Api, by: &User, workspace: &str) -> TestResult<Vec<String>> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/members"),
            &by.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["members"]
        .as_array()
        .ok_or("members")?
        .iter()
        .filter_map(|m| m["email"].as_str().map(str::to_string))
        .collect())
}

/// Invitations mailed are limited per acting admin (and address): past the
/// allowance, sending and resending are `429` with `Retry-After`, and
/// nothing more is mailed; another admin is not held back.
#[tokio::test]
async fn mailing_invitations_is_rate_limited() -> TestResult {
    on_both_with(
        |c| c.rate_limits.invite_per_minute = 2,
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let team = api.team(&ann, "Acme").await?;
            let (id, _) = invite(&api, &ann, &team, "bob@example.com", "member").await?;
            invite(&api, &ann, &team, "cy@example.com", "member").await?;
            let res = api
                .send(
                    Method::POST,
                    &format!("/workspaces/{team}/invitations"),
                    &ann.token,
                    Some(json!({ "email": "dee@example.com" })),
                )
                .await?;
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(res.headers().contains_key("retry-after"));
            let body: Value = res.json().await?;
            assert_eq!(code(&body), "rate_limited", "{body}");
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{team}/invitations/{id}/resend"),
                    &ann.token,
                    None,
                )
                .await?;
            assert_eq!(
                (s, code(&b)),
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            );
            assert_eq!(open_list(&api, &ann, &team).await?.len(), 2, "not sent");
            // Another admin of the workspace still may.
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{team}/api-keys"),
                    &ann.token,
                    Some(json!({ "name": "ci", "role_ceiling": "admin" })),
                )
                .await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            let key = b["secret"].as_str().ok_or("secret")?;
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{team}/invitations"),
                    key,
                    Some(json!({ "email": "dee@example.com" })),
                )
                .await?;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            Ok(())
        },
    )
    .await
}

/// Accepted and declined at the same moment: exactly one wins, and the
/// log records only what happened.
#[tokio::test]
async fn accepting_and_declining_at_once_settle_once() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme").await?;
        let mut declined = 0;
        for n in 0..6 {
            let email = format!("p{n}@example.com");
            let person = api.sign_up(&email).await?;
            let (_, token) = invite(&api, &ann, &team, &email, "member").await?;
            let path = format!("/invitations/{token}/accept");
            let accept = api.call(Method::POST, &path, &person.token, None);
            let decline = api
                .http
                .post(format!("{}/v1/invitations/{token}/decline", api.base))
                .send();
            let (accepted, refused) = tokio::join!(accept, decline);
            let (accepted, refused) = (accepted?.0, refused?.status());
            let won = [
                accepted == StatusCode::OK,
                refused == StatusCode::NO_CONTENT,
            ];
            assert_eq!(
                won.iter().filter(|w| **w).count(),
                1,
                "{accepted} {refused}"
            );
            let loser = if won[0] { refused } else { accepted };
            assert_eq!(loser, StatusCode::CONFLICT, "round {n}");
            let joined = member_emails(&api, &ann, &team).await?.contains(&email);
            assert_eq!(joined, won[0], "round {n}");
            declined += usize::from(won[1]);
        }
        let (s, log) = api
            .call(
                Method::GET,
                &format!("/workspaces/{team}/audit?action=invitation.declined"),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{log}");
        assert_eq!(
            log["entries"].as_array().map(Vec::len),
            Some(declined),
            "{log}"
        );
        Ok(())
    })
    .await
}
