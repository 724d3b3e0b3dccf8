//! API keys follow the person behind them, on SQLite and Postgres: a key
//! records the human who created it (through any chain of keys), and
//! removing that person from a workspace, signing them out everywhere or
//! disabling them revokes those keys (and, on removal, the invitations they
//! sent), saying which in the answer and the audit log.

mod common;

use common::TestResult;
use common::http::{Api, OPERATOR_TOKEN, User, on_both};
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A key made in `workspace` with `bearer` (a session or another key):
/// `(id, secret)`.
async fn key(api: &Api, workspace: &str, bearer: &str, name: &str) -> TestResult<(String, String)> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/api-keys"),
            bearer,
            Some(json!({ "name": name, "role_ceiling": "admin" })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
    Ok((
        b["api_key"]["id"].as_str().ok_or("key id")?.to_string(),
        b["secret"].as_str().ok_or("secret")?.to_string(),
    ))
}

/// Whether `secret` still works in `workspace` (else it must be refused as
/// an invalid key).
async fn works(api: &Api, workspace: &str, secret: &str) -> TestResult<bool> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/projects"),
            secret,
            None,
        )
        .await?;
    match s {
        StatusCode::OK => Ok(true),
        StatusCode::UNAUTHORIZED if code(&b) == "invalid_api_key" => Ok(false),
        other => Err(format!("unexpected {other}: {b}").into()),
    }
}

/// Invite `email` to `workspace` with `bearer`: `(invitation id, token)`.
async fn invite(
    api: &Api,
    workspace: &str,
    bearer: &str,
    email: &str,
) -> TestResult<(String, String)> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/invitations"),
            bearer,
            Some(json!({ "email": email })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok((
        b["invitation"]["id"]
            .as_str()
            .ok_or("invitation id")?
            .to_string(),
        b["token"].as_str().ok_or("token")?.to_string(),
    ))
}

/// Sorted ids.
fn sorted(ids: &[&String]) -> Value {
    let mut ids: Vec<&String> = ids.to_vec();
    ids.sort();
    json!(ids)
}

/// The listed key `id` of `workspace`.
async fn listed(api: &Api, workspace: &str, owner: &str, id: &str) -> TestResult<Value> {
    let keys = api.list(workspace, "api_keys", owner).await?;
    Ok(keys
        .into_iter()
        .find(|k| k["id"] == id)
        .ok_or(format!("key {id} not listed"))?)
}

/// The `api_key.revoked` rows of `workspace`: key id to reason.
async fn revocations(api: &Api, workspace: &str, owner: &str) -> TestResult<Vec<(String, String)>> {
    let rows = api
        .audit(workspace, owner, "action=api_key.revoked")
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap_or_default().to_string(),
                r["detail"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect())
}

#[tokio::test]
async fn a_key_records_the_person_behind_it_through_other_keys() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let (first, first_secret) = key(&api, &acme, &ann.token, "first").await?;
        let (second, second_secret) = key(&api, &acme, &first_secret, "second").await?;
        let (third, _) = key(&api, &acme, &second_secret, "third").await?;
        for (id, made_with) in [(&first, &ann.id), (&second, &first), (&third, &second)] {
            let k = listed(&api, &acme, &ann.token, id).await?;
            assert_eq!(
                (&k["created_by"], &k["created_by_user"]),
                (&json!(made_with), &json!(ann.id)),
                "{k}"
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn removing_a_member_revokes_their_keys_and_invitations_there() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        let beta = api.team(&ann, "Beta").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        api.join(&beta, &ann.token, &bob, "admin").await?;
        let (bobs, bobs_secret) = key(&api, &acme, &bob.token, "bob's").await?;
        let (chained, chained_secret) = key(&api, &acme, &bobs_secret, "made with bob's").await?;
        let (_, beta_secret) = key(&api, &beta, &bob.token, "bob's in beta").await?;
        let (_, personal_secret) = key(&api, &bob.personal, &bob.token, "bob's own").await?;
        let (anns, anns_secret) = key(&api, &acme, &ann.token, "ann's").await?;
        let (by_bob, eve_token) = invite(&api, &acme, &bob.token, "eve@example.com").await?;
        let (by_key, fay_token) = invite(&api, &acme, &chained_secret, "fay@example.com").await?;
        let (_, gus_token) = invite(&api, &acme, &ann.token, "gus@example.com").await?;

        let (s, b) = api
            .call(
                Method::DELETE,
                &format!("/workspaces/{acme}/members/{}", bob.id),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!((&b["user_id"], &b["left"]), (&json!(bob.id), &json!(false)));
        assert_eq!(b["revoked"]["api_keys"], sorted(&[&bobs, &chained]), "{b}");
        assert_eq!(
            b["revoked"]["invitations"],
            sorted(&[&by_bob, &by_key]),
            "{b}"
        );

        // His keys of Acme stop; his others, and ann's, go on.
        for (secret, workspace, alive) in [
            (&bobs_secret, &acme, false),
            (&chained_secret, &acme, false),
            (&anns_secret, &acme, true),
            (&beta_secret, &beta, true),
            (&personal_secret, &bob.personal, true),
        ] {
            assert_eq!(works(&api, workspace, secret).await?, alive, "{secret}");
        }
        for id in [&bobs, &chained] {
            let k = listed(&api, &acme, &ann.token, id).await?;
            assert!(k["revoked_at"].is_i64(), "{k}");
        }
        assert!(listed(&api, &acme, &ann.token, &anns).await?["revoked_at"].is_null());

        // The log says which keys and invitations went, and why.
        let row = api.only_row(&acme, &ann.token, "member.removed").await?;
        assert_eq!(
            (&row["detail"]["api_keys"], &row["detail"]["invitations"]),
            (&sorted(&[&bobs, &chained]), &sorted(&[&by_bob, &by_key]))
        );
        let mut gone = revocations(&api, &acme, &ann.token).await?;
        gone.sort();
        let mut want = vec![
            (bobs.clone(), "creator removed".to_string()),
            (chained.clone(), "creator removed".to_string()),
        ];
        want.sort();
        assert_eq!(gone, want);
        let withdrawn = api
            .audit(&acme, &ann.token, "action=invitation.revoked")
            .await?;
        let mut ids: Vec<&str> = withdrawn
            .iter()
            .filter_map(|r| r["target"].as_str())
            .collect();
        ids.sort();
        assert_eq!(json!(ids), sorted(&[&by_bob, &by_key]));

        // His invitations can no longer be accepted; ann's still can.
        for (email, token, want) in [
            ("eve@example.com", &eve_token, Some("invitation_revoked")),
            ("fay@example.com", &fay_token, Some("invitation_revoked")),
            ("gus@example.com", &gus_token, None),
        ] {
            let guest = api.sign_up(email).await?;
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/invitations/{token}/accept"),
                    &guest.token,
                    None,
                )
                .await?;
            match want {
                Some(want) => assert_eq!((s, code(&b)), (StatusCode::CONFLICT, want), "{b}"),
                None => assert_eq!(s, StatusCode::OK, "{b}"),
            }
        }

        // Leaving is a removal too: his Beta key goes with him.
        let (s, b) = api
            .call(
                Method::DELETE,
                &format!("/workspaces/{beta}/members/{}", bob.id),
                &bob.token,
                None,
            )
            .await?;
        assert_eq!((s, &b["left"]), (StatusCode::OK, &json!(true)), "{b}");
        assert_eq!(b["revoked"]["api_keys"].as_array().map(Vec::len), Some(1));
        assert!(!works(&api, &beta, &beta_secret).await?);
        assert!(works(&api, &bob.personal, &personal_secret).await?);
        Ok(())
    })
    .await
}

/// Bob's keys: in his own workspace, in Acme, and one made with another.
struct Keys {
    ids: Vec<String>,
    secrets: Vec<(String, String)>,
}

async fn bobs_keys(api: &Api, bob: &User, acme: &str) -> TestResult<Keys> {
    let (own, own_secret) = key(api, &bob.personal, &bob.token, "own").await?;
    let (team, team_secret) = key(api, acme, &bob.token, "team").await?;
    let (chained, chained_secret) = key(api, acme, &team_secret, "chained").await?;
    let mut ids = vec![own, team, chained];
    ids.sort();
    Ok(Keys {
        ids,
        secrets: vec![
            (bob.personal.clone(), own_secret),
            (acme.to_string(), team_secret),
            (acme.to_string(), chained_secret),
        ],
    })
}

#[tokio::test]
async fn signing_out_everywhere_revokes_every_key_behind_the_person() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        let laptop = api.sign_in("bob@example.com").await?;
        let bobs = bobs_keys(&api, &bob, &acme).await?;
        let (_, anns_secret) = key(&api, &acme, &ann.token, "ann's").await?;

        let r = api
            .http
            .post(format!("{}/.wrnexus/signout?everywhere=true", api.base))
            .bearer_auth(&laptop)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        let b: Value = r.json().await?;
        assert_eq!(
            (&b["user_id"], &b["sessions"], &b["revoked"]["api_keys"]),
            (&json!(bob.id), &json!(2), &json!(bobs.ids)),
            "{b}"
        );
        for (workspace, secret) in &bobs.secrets {
            assert!(!works(&api, workspace, secret).await?, "{secret}");
        }
        assert!(works(&api, &acme, &anns_secret).await?);

        // On the record: in Acme per key, and in his own workspace in full.
        let mut gone = revocations(&api, &acme, &ann.token).await?;
        gone.sort();
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(
            gone.iter()
                .all(|(id, why)| bobs.ids.contains(id) && why == "creator signed out everywhere")
        );
        let again = api.sign_in("bob@example.com").await?;
        let row = api
            .only_row(&bob.personal, &again, "sessions.revoked_all")
            .await?;
        assert_eq!(row["detail"]["api_keys"], json!(bobs.ids));

        // Signed in again, he may make keys that work.
        let (_, fresh) = key(&api, &acme, &again, "fresh").await?;
        assert!(works(&api, &acme, &fresh).await?);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn disabling_a_user_revokes_every_key_behind_them() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        let bobs = bobs_keys(&api, &bob, &acme).await?;
        let (_, anns_secret) = key(&api, &acme, &ann.token, "ann's").await?;

        let r = api
            .http
            .post(format!("{}/v1/operator/users/{}/disable", api.base, bob.id))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::OK);
        let b: Value = r.json().await?;
        assert_eq!(
            (&b["user_id"], &b["revoked"]["api_keys"]),
            (&json!(bob.id), &json!(bobs.ids)),
            "{b}"
        );
        for (workspace, secret) in &bobs.secrets {
            assert!(!works(&api, workspace, secret).await?, "{secret}");
        }
        assert!(works(&api, &acme, &anns_secret).await?);
        let gone = revocations(&api, &acme, &ann.token).await?;
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(
            gone.iter()
                .all(|(id, why)| bobs.ids.contains(id) && why == "creator disabled")
        );

        // Disabling again revokes nothing more, and says so.
        let r = api
            .http
            .post(format!("{}/v1/operator/users/{}/disable", api.base, bob.id))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await?;
        let b: Value = r.json().await?;
        assert_eq!(b["revoked"]["api_keys"], json!([]), "{b}");
        Ok(())
    })
    .await
}
