//! API keys over HTTP on SQLite and Postgres: what the listing shows (prefix,
//! name, ceiling, created, expiry, last use, revocation) and never shows (the
//! secret), and that calling the API with a key records its last use.

mod common;

use common::TestResult;
use common::http::on_both;
use common::team::{code, now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The listed key with `id`.
fn listed<'a>(keys: &'a [Value], id: &str) -> TestResult<&'a Value> {
    Ok(keys
        .iter()
        .find(|k| k["id"] == id)
        .ok_or(format!("key {id} not listed"))?)
}

#[tokio::test]
async fn the_key_list_shows_what_a_person_needs_and_records_use() -> TestResult {
    on_both(|api| async move {
        let ann = api.sign_up("ann@example.com").await?;
        let bob = api.sign_up("bob@example.com").await?;
        let acme = api.team(&ann, "Acme").await?;
        api.join(&acme, &ann.token, &bob, "admin").await?;
        let keys_path = format!("/workspaces/{acme}/api-keys");
        let projects = format!("/workspaces/{acme}/projects");

        let start = now();
        let expiry = start + 7 * 24 * 3600;
        let (s, ci) = api
            .call(
                Method::POST,
                &keys_path,
                &ann.token,
                Some(json!({ "name": "ci", "role_ceiling": "viewer", "expires_at": expiry })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{ci}");
        let (s, deploy) = api
            .call(
                Method::POST,
                &keys_path,
                &bob.token,
                Some(json!({ "name": "deploy" })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{deploy}");
        let created_by = now();
        let ci_id = ci["api_key"]["id"].as_str().ok_or("ci id")?.to_string();
        let deploy_id = deploy["api_key"]["id"]
            .as_str()
            .ok_or("deploy id")?
            .to_string();
        let ci_secret = ci["secret"].as_str().ok_or("ci secret")?.to_string();
        let deploy_secret = deploy["secret"]
            .as_str()
            .ok_or("deploy secret")?
            .to_string();

        let keys = api.list(&acme, "api_keys", &ann.token).await?;
        assert_eq!(keys.len(), 2, "{keys:?}");
        let (c, d) = (listed(&keys, &ci_id)?, listed(&keys, &deploy_id)?);
        assert_eq!(
            (
                &c["name"],
                &c["prefix"],
                &c["role_ceiling"],
                &c["expires_at"],
                &c["created_by"]
            ),
            (
                &json!("ci"),
                &json!(format!("wrn_{ci_id}")),
                &json!("viewer"),
                &json!(expiry),
                &json!(ann.id)
            )
        );
        // The default ceiling is `member`; no expiry means none.
        assert_eq!(
            (
                &d["name"],
                &d["role_ceiling"],
                &d["expires_at"],
                &d["created_by"]
            ),
            (
                &json!("deploy"),
                &json!("member"),
                &Value::Null,
                &json!(bob.id)
            )
        );
        for (key, secret) in [(c, &ci_secret), (d, &deploy_secret)] {
            let prefix = key["prefix"].as_str().ok_or("prefix")?;
            assert!(
                secret.starts_with(&format!("{prefix}_")),
                "{prefix} does not start {secret}"
            );
            let at = key["created_at"].as_i64().ok_or("created_at")?;
            assert!(
                (start..=created_by).contains(&at),
                "created {at} outside {start}..={created_by}"
            );
            assert_eq!(
                (&key["last_used_at"], &key["revoked_at"]),
                (&Value::Null, &Value::Null)
            );
            assert!(
                key.get("secret").is_none() && key.get("secret_hash").is_none(),
                "{key}"
            );
        }
        let listing = serde_json::to_string(&keys)?;
        for secret in [&ci_secret, &deploy_secret] {
            let hidden = secret.rsplit('_').next().unwrap_or(secret);
            assert!(!listing.contains(hidden), "the listing shows a secret");
        }

        // Calling the API with a key records when it was last used, on it alone.
        let used_from = now();
        let (s, b) = api.call(Method::GET, &projects, &ci_secret, None).await?;
        assert_eq!(s, StatusCode::OK, "{b}");
        let used_by = now();
        let keys = api.list(&acme, "api_keys", &ann.token).await?;
        let used = listed(&keys, &ci_id)?["last_used_at"]
            .as_i64()
            .ok_or("ci last_used_at")?;
        assert!(
            (used_from..=used_by).contains(&used),
            "used {used} outside {used_from}..={used_by}"
        );
        assert_eq!(listed(&keys, &deploy_id)?["last_used_at"], Value::Null);

        // A key above its creator's role is refused and nothing is written.
        let (s, b) = api
            .call(
                Method::POST,
                &keys_path,
                &bob.token,
                Some(json!({ "name": "root", "role_ceiling": "owner" })),
            )
            .await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::FORBIDDEN, "ceiling_above_role"),
            "{b}"
        );
        assert_eq!(api.list(&acme, "api_keys", &ann.token).await?.len(), 2);

        // Revoked: listed as such, and refused from then on.
        let (s, _) = api
            .call(
                Method::DELETE,
                &format!("{keys_path}/{ci_id}"),
                &ann.token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let keys = api.list(&acme, "api_keys", &ann.token).await?;
        let revoked = listed(&keys, &ci_id)?["revoked_at"]
            .as_i64()
            .ok_or("revoked_at")?;
        assert!(revoked >= used, "revoked {revoked} before last use {used}");
        let (s, b) = api.call(Method::GET, &projects, &ci_secret, None).await?;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
        Ok(())
    })
    .await
}
