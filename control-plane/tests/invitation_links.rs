//! Invitations by email over HTTP, on SQLite and on Postgres: the preview a
//! link shows, accepting, declining, resending (the old link stops
//! working), revoking, expiry, and the page the link opens.

mod common;

use common::TestResult;
use common::http::{Api, User, on_both, on_both_with};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wrnexus_policies::claims::DEFAULT_COOKIE_NAME;

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

/// The preview of a link: status and body.
async fn preview(api: &Api, token: &str) -> TestResult<(StatusCode, Value)> {
    let res = api
        .http
        .get(format!("{}/v1/invitations/{token}", api.base))
        .send()
        .await?;
    let status = res.status();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
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

#[tokio::test]
async fn a_link_previews_then_accepts_once() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme").await?;
        let (id, token) = invite(&api, &ann, &team, "bob@example.com", "admin").await?;

        let (s, b) = preview(&api, &token).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["workspace_name"], "Acme");
        assert_eq!(b["email"], "bob@example.com");
        assert_eq!(b["role"], "admin");
        assert_eq!(b["status"], "pending");

        let open = open_list(&api, &ann, &team).await?;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0]["id"], id.as_str());
        assert_eq!(open[0]["invited_by"], "ann@example.com");
        assert_eq!(open[0]["status"], "pending");
        assert!(open[0]["last_sent_at"].as_i64().is_some(), "{}", open[0]);

        // Someone else cannot use it; the invitee can, once.
        let eve = api.sign_up("eve@example.com").await?;
        let accept = format!("/invitations/{token}/accept");
        let (s, b) = api.call(Method::POST, &accept, &eve.token, None).await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::CONFLICT, "invitation_email_mismatch")
        );
        let bob = api.sign_up("bob@example.com").await?;
        let (s, b) = api.call(Method::POST, &accept, &bob.token, None).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["workspace_id"], team.as_str());
        let (s, b) = api.call(Method::POST, &accept, &bob.token, None).await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_spent"));
        assert!(member_emails(&api, &ann, &team).await?.contains(&bob.email));
        assert_eq!(preview(&api, &token).await?.1["status"], "accepted");
        assert!(open_list(&api, &ann, &team).await?.is_empty());

        // A token nobody issued is not found, and changes nothing.
        let (s, b) = preview(&api, "not-a-token").await?;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
        let (s, _) = api
            .call(
                Method::POST,
                "/invitations/not-a-token/accept",
                &eve.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(!member_emails(&api, &ann, &team).await?.contains(&eve.email));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn declined_revoked_and_resent_links_stop_working() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme").await?;
        let bob = api.sign_up("bob@example.com").await?;

        // Declining needs only the link; it cannot be accepted afterwards.
        let (_, token) = invite(&api, &ann, &team, "bob@example.com", "member").await?;
        let decline = api
            .http
            .post(format!("{}/v1/invitations/{token}/decline", api.base))
            .send()
            .await?;
        assert_eq!(decline.status(), StatusCode::NO_CONTENT);
        assert_eq!(preview(&api, &token).await?.1["status"], "declined");
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/invitations/{token}/accept"),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_declined"));

        // Revoked: the link says so and accepting is refused.
        let (id, token) = invite(&api, &ann, &team, "bob@example.com", "member").await?;
        let revoke = format!("/workspaces/{team}/invitations/{id}");
        let (s, b) = api.call(Method::DELETE, &revoke, &ann.token, None).await?;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        assert_eq!(preview(&api, &token).await?.1["status"], "revoked");
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/invitations/{token}/accept"),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_revoked"));
        let (s, _) = api.call(Method::DELETE, &revoke, &ann.token, None).await?;
        assert_eq!(s, StatusCode::NOT_FOUND, "no longer open");

        // Resent: the old link is unknown, the new one works.
        let (id, old) = invite(&api, &ann, &team, "bob@example.com", "viewer").await?;
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{team}/invitations/{id}/resend"),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        assert_eq!(b["status"], "pending");
        assert_eq!(preview(&api, &old).await?.0, StatusCode::NOT_FOUND);
        let (s, _) = api
            .call(
                Method::POST,
                &format!("/invitations/{old}/accept"),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(!member_emails(&api, &ann, &team).await?.contains(&bob.email));

        // Each change is in the workspace's log.
        let (s, log) = api
            .call(
                Method::GET,
                &format!("/workspaces/{team}/audit?action=invitation.resent"),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");
        let (s, log) = api
            .call(
                Method::GET,
                &format!("/workspaces/{team}/audit?action=invitation.declined"),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(log["entries"].as_array().map(Vec::len), Some(1), "{log}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn members_cannot_handle_invitations() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme").await?;
        let (_, token) = invite(&api, &ann, &team, "bob@example.com", "member").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let (s, _) = api
            .call(
                Method::POST,
                &format!("/invitations/{token}/accept"),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK);
        let (id, _) = invite(&api, &ann, &team, "cy@example.com", "member").await?;
        for (method, path) in [
            (Method::GET, format!("/workspaces/{team}/invitations")),
            (
                Method::POST,
                format!("/workspaces/{team}/invitations/{id}/resend"),
            ),
            (
                Method::DELETE,
                format!("/workspaces/{team}/invitations/{id}"),
            ),
        ] {
            let (s, b) = api.call(method.clone(), &path, &bob.token, None).await?;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {b}");
        }
        assert_eq!(
            open_list(&api, &ann, &team).await?.len(),
            1,
            "nothing changed"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_expired_link_says_so() -> TestResult {
    on_both_with(
        |c| c.invitation_ttl_secs = 1,
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let team = api.team(&ann, "Acme").await?;
            let (id, token) = invite(&api, &ann, &team, "bob@example.com", "member").await?;
            tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
            assert_eq!(preview(&api, &token).await?.1["status"], "expired");
            let page = api
                .http
                .get(format!("{}/.wrnexus/invitations/{token}", api.base))
                .send()
                .await?;
            assert_eq!(page.status(), StatusCode::GONE);
            assert!(page.text().await?.contains("expired"));
            let bob = api.sign_up("bob@example.com").await?;
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/invitations/{token}/accept"),
                    &bob.token,
                    None,
                )
                .await?;
            assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invitation_expired"));
            // An expired invitation is still listed, and a resend opens it.
            let open = open_list(&api, &ann, &team).await?;
            assert_eq!(open[0]["status"], "expired");
            let (s, _) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{team}/invitations/{id}/resend"),
                    &ann.token,
                    None,
                )
                .await?;
            assert_eq!(s, StatusCode::ACCEPTED);
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn the_page_offers_what_fits_who_is_looking() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let team = api.team(&ann, "Acme <Team>").await?;
        let (_, token) = invite(&api, &ann, &team, "bob@example.com", "member").await?;
        let url = format!("{}/.wrnexus/invitations/{token}", api.base);

        let signed_out = api.http.get(&url).send().await?;
        assert_eq!(signed_out.status(), StatusCode::OK);
        // The URL holds the token: no Referer, no cache, no framing.
        for (name, value) in [
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
            ("content-security-policy", "frame-ancestors 'none'"),
        ] {
            assert_eq!(
                signed_out.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}"
            );
        }
        let html = signed_out.text().await?;
        assert!(html.contains("Join Acme &lt;Team&gt;"), "{html}");
        assert!(html.contains("ann@example.com invited you"), "{html}");
        let back = format!("return_to=/.wrnexus/invitations/{token}&amp;email=bob%40example.com");
        assert!(html.contains(&format!("/.wrnexus/signup?{back}")), "{html}");
        assert!(html.contains(&format!("/.wrnexus/signin?{back}")), "{html}");
        assert!(!html.contains("Accept and join"), "{html}");

        let cookie = |token: &str| format!("{DEFAULT_COOKIE_NAME}={token}");
        let other = api
            .http
            .get(&url)
            .header("cookie", cookie(&ann.token))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            other.contains("You are signed in as <strong>ann@example.com</strong>"),
            "{other}"
        );
        assert!(!other.contains("Accept and join"));

        let bob = api.sign_up("bob@example.com").await?;
        let mine = api
            .http
            .get(&url)
            .header("cookie", cookie(&bob.token))
            .send()
            .await?
            .text()
            .await?;
        assert!(mine.contains("Accept and join"), "{mine}");
        assert!(mine.contains(&format!("action=\"/.wrnexus/invitations/{token}/decline\"")));

        // Accepting through the page moves the session into the workspace.
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let joined = no_redirects
            .post(format!("{url}/accept"))
            .header("cookie", cookie(&bob.token))
            .header("origin", &api.base)
            .send()
            .await?;
        assert_eq!(joined.status(), StatusCode::SEE_OTHER);
        assert_eq!(joined.headers()["location"], "/");
        let moved = common::http::session_token(&joined)?;
        let who: Value = api
            .http
            .get(format!("{}/.wrnexus/whoami", api.base))
            .bearer_auth(&moved)
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(who["workspace"]["id"], team.as_str(), "{who}");

        let used = api.http.get(&url).send().await?;
        assert_eq!(used.status(), StatusCode::GONE);
        assert!(used.text().await?.contains("already used"));
        let unknown = api
            .http
            .get(format!("{}/.wrnexus/invitations/nope", api.base))
            .send()
            .await?;
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert!(unknown.text().await?.contains("does not work"));
        Ok(())
    })
    .await
}
