//! Gateways' reports of API key use, over HTTP on SQLite and Postgres: only
//! a gateway with the token may report; a key's last use only moves
//! forward; each refusal becomes an audit row in the key's own workspace
//! with the request it came with; a bad report is refused whole, naming
//! the field, and writes nothing.

mod common;

use common::TestResult;
use common::http::{Api, OPERATOR_TOKEN, config, on_both_with};
use common::team::{assert_bad_input, code, now};
use reqwest::StatusCode;
use serde_json::{Value, json};

const GATEWAY_TOKEN: &str = "test-gateway-token";

/// POST `body` (JSON text) as a gateway would, with `bearer` (none when
/// empty).
async fn report_raw(api: &Api, bearer: &str, body: String) -> TestResult<(StatusCode, Value)> {
    let mut req = api
        .http
        .post(format!("{}/v1/internal/key-usage", api.base))
        .header("content-type", "application/json")
        .body(body);
    if !bearer.is_empty() {
        req = req.bearer_auth(bearer);
    }
    let res = req.send().await?;
    let status = res.status();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// A report the control plane accepts: what it says it did.
async fn report(api: &Api, body: Value) -> TestResult<Value> {
    let (s, b) = report_raw(api, GATEWAY_TOKEN, body.to_string()).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b)
}

/// A new key of `workspace`: its id.
async fn key(api: &Api, workspace: &str, token: &str, name: &str) -> TestResult<String> {
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            &format!("/workspaces/{workspace}/api-keys"),
            token,
            Some(json!({ "name": name })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok(b["api_key"]["id"].as_str().ok_or("key id")?.to_string())
}

/// The listed `last_used_at` of key `id`.
async fn last_used(api: &Api, workspace: &str, token: &str, id: &str) -> TestResult<Value> {
    let keys = api.list(workspace, "api_keys", token).await?;
    let key = keys
        .iter()
        .find(|k| k["id"] == id)
        .ok_or(format!("key {id} not listed"))?;
    Ok(key["last_used_at"].clone())
}

#[tokio::test]
async fn only_a_gateway_with_the_token_may_report() -> TestResult {
    // No token configured: the endpoint says it is off, whatever is shown.
    let dir = tempfile::tempdir()?;
    let sqlite = wrnexus_control_plane::store::sqlite_url(&dir.path().join("t.sqlite"));
    let off = Api::start(config(&sqlite, None)).await?;
    let (s, b) = report_raw(&off, GATEWAY_TOKEN, "{}".into()).await?;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::NOT_FOUND, "gateway_reports_disabled")
    );

    on_both_with(
        |c| c.gateway_token = Some(GATEWAY_TOKEN.to_string()),
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let id = key(&api, &ann.personal, &ann.token, "ci").await?;
            let body = json!({ "used": [{ "key_id": id, "at": now() }] }).to_string();
            for bearer in ["", "wrong-token", OPERATOR_TOKEN, ann.token.as_str()] {
                let (s, b) = report_raw(&api, bearer, body.clone()).await?;
                assert_eq!(
                    (s, code(&b)),
                    (StatusCode::UNAUTHORIZED, "invalid_gateway_token"),
                    "{bearer}: {b}"
                );
            }
            assert_eq!(
                last_used(&api, &ann.personal, &ann.token, &id).await?,
                Value::Null,
                "a refused report was applied"
            );
            let applied = report(&api, serde_json::from_str(&body)?).await?;
            assert_eq!(applied["updated"], 1, "{applied}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn last_use_moves_forward_and_refusals_are_audited_where_the_key_lives() -> TestResult {
    on_both_with(
        |c| c.gateway_token = Some(GATEWAY_TOKEN.to_string()),
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let acme = api.team(&ann, "Acme").await?;
            let team_key = key(&api, &acme, &ann.token, "ci").await?;
            let own_key = key(&api, &ann.personal, &ann.token, "laptop").await?;
            let t0 = now() - 1000;
            let used = |at: i64| json!({ "used": [{ "key_id": team_key, "at": at }] });
            let seen = || last_used(&api, &acme, &ann.token, &team_key);

            let applied = report(&api, used(t0)).await?;
            assert_eq!(applied["updated"], 1, "{applied}");
            assert_eq!(seen().await?, json!(t0));
            assert_eq!(
                last_used(&api, &ann.personal, &ann.token, &own_key).await?,
                Value::Null
            );
            // An older report never moves it back; within a minute it is
            // not rewritten; later it moves on.
            report(&api, used(t0 - 600)).await?;
            assert_eq!(seen().await?, json!(t0));
            let applied = report(&api, used(t0 + 30)).await?;
            assert_eq!(
                (applied["updated"].clone(), seen().await?),
                (json!(0), json!(t0))
            );
            report(&api, used(t0 + 120)).await?;
            assert_eq!(seen().await?, json!(t0 + 120));
            // A gateway clock ahead of ours does not make a future use.
            report(&api, used(now() + 3600)).await?;
            let clamped = seen().await?.as_i64().ok_or("last_used_at")?;
            assert!(clamped <= now(), "last use {clamped} is in the future");

            let at = now() - 5;
            let refusal = |id: &str, reason: &str, rid: &str| {
                json!({ "key_id": id, "reason": reason, "request_id": rid,
                        "ip": "203.0.113.7", "user_agent": "curl/8.5 (x)", "at": at })
            };
            let applied = report(
                &api,
                json!({ "refused": [
                    refusal(&team_key, "revoked", "req-team"),
                    refusal(&own_key, "unknown", "req-own"),
                    refusal("ffffffffffffffff", "expired", "req-nobody"),
                ] }),
            )
            .await?;
            assert_eq!(
                (&applied["audited"], &applied["unknown_keys"]),
                (&json!(2), &json!(1)),
                "{applied}"
            );
            let row = api.only_row(&acme, &ann.token, "api_key.used").await?;
            let facts = [
                "actor_kind",
                "actor_id",
                "target",
                "outcome",
                "request_id",
                "ip",
                "user_agent",
                "at",
            ]
            .map(|f| row[f].clone());
            assert_eq!(
                facts.to_vec(),
                [
                    json!("api_key"),
                    json!(team_key),
                    json!(team_key),
                    json!("failure"),
                    json!("req-team"),
                    json!("203.0.113.7"),
                    json!("curl/8.5 (x)"),
                    json!(at),
                ],
                "{row}"
            );
            assert_eq!(
                row["detail"],
                json!({ "reason": "revoked", "via": "gateway" })
            );
            // The personal key's refusal is in its own workspace only; a
            // gateway without an entry means the secret was wrong.
            let row = api
                .only_row(&ann.personal, &ann.token, "api_key.used")
                .await?;
            assert_eq!(
                (
                    &row["actor_id"],
                    &row["request_id"],
                    &row["detail"]["reason"]
                ),
                (&json!(own_key), &json!("req-own"), &json!("wrong_secret"))
            );
            let text = serde_json::to_string(&api.audit(&acme, &ann.token, "").await?)?;
            assert!(
                !text.contains("req-own") && !text.contains("req-nobody"),
                "{text}"
            );
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_bad_report_names_its_field_and_writes_nothing() -> TestResult {
    on_both_with(
        |c| c.gateway_token = Some(GATEWAY_TOKEN.to_string()),
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let id = key(&api, &ann.personal, &ann.token, "ci").await?;
            let before = api.snapshot(&ann.personal, &ann.token).await?;
            let good_use = json!({ "key_id": id, "at": now() });
            let refusal = |field: &str, value: Value| {
                let mut r = json!({ "key_id": id, "reason": "revoked", "request_id": "r1",
                                    "ip": "203.0.113.7", "user_agent": "curl/8", "at": now() });
                r[field] = value;
                json!({ "used": [good_use], "refused": [r] }).to_string()
            };
            let too_many: Vec<Value> = (0..1001).map(|_| good_use.clone()).collect();
            let cases = [
                (
                    "not json",
                    "{\"used\": [".to_string(),
                    "invalid_body",
                    "body",
                ),
                ("not an object", "[1]".to_string(), "invalid_body", "body"),
                (
                    "unknown field",
                    json!({ "usde": [] }).to_string(),
                    "unknown_field",
                    "body",
                ),
                (
                    "not a list",
                    json!({ "used": {} }).to_string(),
                    "invalid_list",
                    "used",
                ),
                (
                    "too many",
                    json!({ "used": too_many }).to_string(),
                    "invalid_list",
                    "used",
                ),
                (
                    "bad key id",
                    json!({ "used": [{ "key_id": "wrn_x", "at": 1 }] }).to_string(),
                    "invalid_key_id",
                    "used.key_id",
                ),
                (
                    "no time",
                    json!({ "used": [{ "key_id": id }] }).to_string(),
                    "missing_field",
                    "used.at",
                ),
                (
                    "bad reason",
                    refusal("reason", json!("bored")),
                    "invalid_reason",
                    "refused.reason",
                ),
                (
                    "bad time",
                    refusal("at", json!(-4)),
                    "invalid_time",
                    "refused.at",
                ),
                (
                    "bad ip",
                    refusal("ip", json!("10.0.0.300")),
                    "invalid_ip",
                    "refused.ip",
                ),
                (
                    "bad agent",
                    refusal("user_agent", json!("x".repeat(513))),
                    "invalid_field",
                    "refused.user_agent",
                ),
                (
                    "bad request id",
                    refusal("request_id", json!("has space")),
                    "invalid_field",
                    "refused.request_id",
                ),
            ];
            for (what, body, want, field) in cases {
                let (s, b) = report_raw(&api, GATEWAY_TOKEN, body).await?;
                assert_bad_input(what, s, &b, want, field);
            }
            assert_eq!(
                api.snapshot(&ann.personal, &ann.token).await?,
                before,
                "a refused report changed something"
            );
            Ok(())
        },
    )
    .await
}
