//! A key never acts above its person, on SQLite and Postgres: when the
//! person behind keys is demoted (or hands over ownership) their keys in that
//! workspace come down to the new role and their pending invitations to a
//! stronger role are withdrawn, on the record; disabling a person withdraws
//! their pending invitations everywhere.

mod common;

use common::TestResult;
use common::http::{Api, OPERATOR_TOKEN, on_both};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A key made in `workspace` with `bearer`, with `ceiling`: `(id, secret)`.
async fn key(
    api: &Api,
    workspace: &str,
    bearer: &str,
    ceiling: &str,
) -> TestResult<(String, String)> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/api-keys"),
            bearer,
            Some(json!({ "name": ceiling, "role_ceiling": ceiling })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{ceiling}: {b}");
    Ok((
        b["api_key"]["id"].as_str().ok_or("key id")?.to_string(),
        b["secret"].as_str().ok_or("secret")?.to_string(),
    ))
}

/// Invite `email` as `role` with `bearer`: `(invitation id, token)`.
async fn invite(
    api: &Api,
    workspace: &str,
    bearer: &str,
    email: &str,
    role: &str,
) -> TestResult<(String, String)> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/invitations"),
            bearer,
            Some(json!({ "email": email, "role": role })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok((
        b["invitation"]["id"].as_str().ok_or("id")?.to_string(),
        b["token"].as_str().ok_or("token")?.to_string(),
    ))
}

/// The listed ceiling of key `id`.
async fn ceiling(api: &Api, workspace: &str, owner: &str, id: &str) -> TestResult<Value> {
    let keys = api.list(workspace, "api_keys", owner).await?;
    let k = keys
        .into_iter()
        .find(|k| k["id"] == id)
        .ok_or(format!("key {id} not listed"))?;
    Ok(k["role_ceiling"].clone())
}

/// Accept `token` as a new person `email`: the error code, if refused.
async fn accept(api: &Api, email: &str, token: &str) -> TestResult<Option<String>> {
    let guest = api.sign_up(email).await?;
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/invitations/{token}/accept"),
            &guest.token,
            None,
        )
        .await?;
    Ok((s != StatusCode::OK).then(|| code(&b).to_string()))
}

fn sorted(ids: &[&String]) -> Value {
    let mut ids = ids.to_vec();
    ids.sort();
    json!(ids)
}

#[tokio::test]
async fn an_owner_key_cannot_take_back_a_handed_over_workspace() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        let (anns, anns_secret) = key(&api, &acme, &ann.token, "owner").await?;

        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/transfer"),
                &ann.token,
                Some(json!({ "user_id": bob.id })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(ceiling(&api, &acme, &bob.token, &anns).await?, "admin");

        // The key acts as an admin now: no promoting its person back, no
        // removing the new owner.
        let (s, b) = api
            .call(
                Method::PATCH,
                &format!("/workspaces/{acme}/members/{}", ann.id),
                &anns_secret,
                Some(json!({ "role": "owner" })),
            )
            .await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "owner_required"),
            "{b}"
        );
        let (s, b) = api
            .call(
                Method::DELETE,
                &format!("/workspaces/{acme}/members/{}", bob.id),
                &anns_secret,
                None,
            )
            .await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "owner_required"),
            "{b}"
        );
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/api-keys"),
                &anns_secret,
                Some(json!({ "name": "x", "role_ceiling": "owner" })),
            )
            .await?;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "ceiling_above_role"));

        // On the record.
        let row = api
            .only_row(&acme, &bob.token, "api_key.ceiling_lowered")
            .await?;
        assert_eq!(row["target"], json!(anns));
        assert_eq!(
            (&row["detail"]["from"], &row["detail"]["to"]),
            (&json!("owner"), &json!("admin"))
        );
        assert_eq!(row["detail"]["reason"], "creator demoted");
        let changes = api
            .audit(&acme, &bob.token, "action=member.role_changed")
            .await?;
        let anns_change = changes
            .iter()
            .find(|r| r["target"] == ann.id.as_str())
            .ok_or("no role change for ann")?;
        assert_eq!(anns_change["detail"]["api_keys"], json!([anns]));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_demotion_lowers_keys_and_withdraws_invitations_above_the_new_role() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let beta = api.team(&ann, "Beta").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        api.join(&beta, &ann.token, &bob, "admin").await?;
        let (admin_key, admin_secret) = key(&api, &acme, &bob.token, "admin").await?;
        let (chained, _) = key(&api, &acme, &admin_secret, "admin").await?;
        let (plain, _) = key(&api, &acme, &bob.token, "member").await?;
        let (in_beta, _) = key(&api, &beta, &bob.token, "admin").await?;
        let (anns, _) = key(&api, &acme, &ann.token, "admin").await?;
        let (to_admin, admin_token) =
            invite(&api, &acme, &admin_secret, "cat@example.com", "admin").await?;
        let (_, member_token) =
            invite(&api, &acme, &bob.token, "dan@example.com", "member").await?;
        let (_, beta_token) = invite(&api, &beta, &bob.token, "eve@example.com", "admin").await?;

        let (s, b) = api
            .call(
                Method::PATCH,
                &format!("/workspaces/{acme}/members/{}", bob.id),
                &ann.token,
                Some(json!({ "role": "member" })),
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");

        for (id, want) in [
            (&admin_key, "member"),
            (&chained, "member"),
            (&plain, "member"),
            (&anns, "admin"),
        ] {
            assert_eq!(ceiling(&api, &acme, &ann.token, id).await?, want, "{id}");
        }
        assert_eq!(ceiling(&api, &beta, &ann.token, &in_beta).await?, "admin");
        let row = api
            .only_row(&acme, &ann.token, "member.role_changed")
            .await?;
        assert_eq!(row["target"], json!(bob.id));
        assert_eq!(
            (&row["detail"]["api_keys"], &row["detail"]["invitations"]),
            (&sorted(&[&admin_key, &chained]), &json!([to_admin]))
        );
        let lowered = api
            .audit(&acme, &ann.token, "action=api_key.ceiling_lowered")
            .await?;
        assert_eq!(lowered.len(), 2, "{lowered:?}");
        let withdrawn = api
            .only_row(&acme, &ann.token, "invitation.revoked")
            .await?;
        assert_eq!(
            (&withdrawn["target"], &withdrawn["detail"]["reason"]),
            (&json!(to_admin), &json!("inviter demoted"))
        );

        // The lowered key acts as a member: no admin work.
        let (s, b) = api
            .call(
                Method::POST,
                &format!("/workspaces/{acme}/invitations"),
                &admin_secret,
                Some(json!({ "email": "fay@example.com" })),
            )
            .await?;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(
            accept(&api, "cat@example.com", &admin_token)
                .await?
                .as_deref(),
            Some("invitation_revoked")
        );
        assert_eq!(accept(&api, "dan@example.com", &member_token).await?, None);
        assert_eq!(accept(&api, "eve@example.com", &beta_token).await?, None);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn disabling_a_user_withdraws_their_invitations_everywhere() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let beta = api.team(&ann, "Beta").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        api.join(&beta, &ann.token, &bob, "admin").await?;
        let (_, bobs_secret) = key(&api, &acme, &bob.token, "admin").await?;
        let (in_acme, acme_token) =
            invite(&api, &acme, &bobs_secret, "cat@example.com", "member").await?;
        let (in_beta, beta_token) =
            invite(&api, &beta, &bob.token, "dan@example.com", "viewer").await?;
        let (_, anns_token) = invite(&api, &acme, &ann.token, "eve@example.com", "member").await?;

        let r = api
            .http
            .post(format!("{}/v1/operator/users/{}/disable", api.base, bob.id))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        let b: Value = r.json().await?;
        assert_eq!(
            b["revoked"]["invitations"],
            sorted(&[&in_acme, &in_beta]),
            "{b}"
        );
        for (workspace, id) in [(&acme, &in_acme), (&beta, &in_beta)] {
            let row = api
                .only_row(workspace, &ann.token, "invitation.revoked")
                .await?;
            assert_eq!(
                (&row["target"], &row["detail"]["reason"]),
                (&json!(id), &json!("inviter disabled"))
            );
        }
        for (email, token, want) in [
            ("cat@example.com", &acme_token, Some("invitation_revoked")),
            ("dan@example.com", &beta_token, Some("invitation_revoked")),
            ("eve@example.com", &anns_token, None),
        ] {
            assert_eq!(
                accept(&api, email, token).await?.as_deref(),
                want,
                "{email}"
            );
        }
        Ok(())
    })
    .await
}
