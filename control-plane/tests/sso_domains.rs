//! Verified domains over HTTP, against a DNS server on loopback: adding one
//! (the record to publish), checking it now, one workspace only, owners
//! only, removing; and home-realm discovery on the sign-in form.

mod common;

use common::TestResult;
use common::http::{Api, config, on_both_with};
use common::team::{assert_bad_input, code};
use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

/// TXT records by name (lowercase, no trailing dot); NXDOMAIN otherwise.
#[derive(Clone, Default)]
struct Zone(Arc<Mutex<HashMap<String, Vec<String>>>>);

impl Zone {
    fn set_txt(&self, name: &str, value: &str) {
        if let Ok(mut z) = self.0.lock() {
            z.insert(name.to_string(), vec![value.to_string()]);
        }
    }

    fn clear(&self) {
        if let Ok(mut z) = self.0.lock() {
            z.clear();
        }
    }

    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let question = request.queries.first()?.clone();
        let mut response = Message::response(request.metadata.id, OpCode::Query);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.add_query(question.clone());
        let name = question
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_lowercase();
        let values = self.0.lock().ok()?.get(&name).cloned();
        match values {
            Some(values) if question.query_type() == RecordType::TXT => {
                for value in values {
                    response.add_answer(Record::from_rdata(
                        question.name().clone(),
                        0,
                        RData::TXT(TXT::new(vec![value])),
                    ));
                }
            }
            Some(_) => {}
            None => response.metadata.response_code = ResponseCode::NXDomain,
        }
        response.to_vec().ok()
    }

    async fn serve(&self) -> TestResult<SocketAddr> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let zone = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                if let Some(reply) = zone.answer(&buf[..n]) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        Ok(addr)
    }
}

async fn add(api: &Api, token: &str, ws: &str, domain: &str) -> TestResult<(StatusCode, Value)> {
    api.call(
        Method::POST,
        &format!("/workspaces/{ws}/sso/domains"),
        token,
        Some(json!({ "domain": domain })),
    )
    .await
}

async fn verify(api: &Api, token: &str, ws: &str, id: &str) -> TestResult<(StatusCode, Value)> {
    api.call(
        Method::POST,
        &format!("/workspaces/{ws}/sso/domains/{id}/verify"),
        token,
        None,
    )
    .await
}

#[tokio::test]
async fn domains_are_added_checked_and_belong_to_one_workspace() -> TestResult {
    let zone = Zone::default();
    let dns = zone.serve().await?;
    on_both_with(
        |c| {
            c.sso.dns_resolver = Some(dns);
            c.sso.domain_worker_enabled = false;
        },
        |api| {
            let zone = zone.clone();
            async move {
                // Each database's run starts with nothing published.
                zone.clear();
                let ann = api.sign_up("ann@example.net").await?;
                let acme = api.team(&ann, "Acme").await?;
                let (s, b) = add(&api, &ann.token, &acme, "Example.COM").await?;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                let d = &b["domain"];
                assert_eq!(
                    (d["domain"].as_str(), d["status"].as_str()),
                    (Some("example.com"), Some("pending"))
                );
                assert_eq!(d["record"]["name"], "_wrnexus-challenge.example.com");
                assert_eq!(d["record"]["type"], "TXT");
                let value = d["record"]["value"].as_str().ok_or("value")?.to_string();
                assert!(value.starts_with("wrnexus-domain-verification="), "{value}");
                let id = d["id"].as_str().ok_or("id")?.to_string();

                // Not published yet: checked, still pending, said why.
                let (s, b) = verify(&api, &ann.token, &acme, &id).await?;
                assert_eq!(
                    (s, b["verified"].as_bool()),
                    (StatusCode::OK, Some(false)),
                    "{b}"
                );
                let why = b["domain"]["check_error"].as_str().unwrap_or_default();
                assert!(why.contains("no TXT record"), "{why}");

                zone.set_txt("_wrnexus-challenge.example.com", &value);
                let (s, b) = verify(&api, &ann.token, &acme, &id).await?;
                assert_eq!(
                    (s, b["verified"].as_bool()),
                    (StatusCode::OK, Some(true)),
                    "{b}"
                );
                assert_eq!(b["change"], "verified");
                assert_eq!(b["domain"]["status"], "verified");

                // Another workspace cannot claim it, nor learn whose it is.
                let bob = api.sign_up("bob@example.net").await?;
                let (s, b) = add(&api, &bob.token, &bob.personal, "example.com").await?;
                assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "domain_taken"), "{b}");
                assert!(!b.to_string().contains(&acme), "{b}");
                let (s, b) = add(&api, &ann.token, &acme, "*.example.org").await?;
                assert_bad_input("wildcard", s, &b, "invalid_domain", "domain");
                let (s, b) = add(&api, &ann.token, &acme, "org").await?;
                assert_bad_input("suffix", s, &b, "invalid_domain", "domain");

                // Owners only: an admin is refused, with the owner rule.
                api.join(&acme, &ann.token, &bob, "admin").await?;
                let (s, b) = api
                    .call(
                        Method::GET,
                        &format!("/workspaces/{acme}/sso/domains"),
                        &bob.token,
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
                        Method::GET,
                        &format!("/workspaces/{acme}/sso/domains"),
                        &ann.token,
                        None,
                    )
                    .await?;
                assert_eq!(s, StatusCode::OK, "{b}");
                assert_eq!(b["domains"].as_array().map(Vec::len), Some(1));
                let audit = api.audit(&acme, &ann.token, "").await?;
                let actions: Vec<&str> =
                    audit.iter().filter_map(|r| r["action"].as_str()).collect();
                assert!(actions.contains(&"sso.domain.added"), "{actions:?}");
                assert!(actions.contains(&"sso.domain.verified"), "{actions:?}");

                let (s, _) = api
                    .call(
                        Method::DELETE,
                        &format!("/workspaces/{acme}/sso/domains/{id}"),
                        &ann.token,
                        None,
                    )
                    .await?;
                assert_eq!(s, StatusCode::NO_CONTENT);
                let (s, b) = add(&api, &bob.token, &bob.personal, "example.com").await?;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                Ok(())
            }
        },
    )
    .await
}

#[tokio::test]
async fn people_at_a_verified_domain_are_sent_to_its_provider() -> TestResult {
    use wrnexus_control_plane::push::Pusher;
    use wrnexus_control_plane::store::{Store, sqlite_url};
    let zone = Zone::default();
    let dns = zone.serve().await?;
    let dir = tempfile::tempdir()?;
    let url = sqlite_url(&dir.path().join("t.sqlite"));
    let mut c = config(&url, None);
    c.sso.dns_resolver = Some(dns);
    c.sso.domain_worker_enabled = false;
    let api = Api::start(c).await?;
    let ann = api.sign_up("ann@corp.example").await?;
    let acme = api.team(&ann, "Acme").await?;
    let (_, b) = add(&api, &ann.token, &acme, "corp.example").await?;
    let id = b["domain"]["id"].as_str().ok_or("id")?.to_string();
    let value = b["domain"]["record"]["value"].as_str().ok_or("value")?;
    zone.set_txt("_wrnexus-challenge.corp.example", value);
    let (_, b) = verify(&api, &ann.token, &acme, &id).await?;
    assert_eq!(b["verified"], true, "{b}");

    let discover = |email: &str| {
        let url = format!(
            "{}/.wrnexus/sso/discover?email={email}&return_to=/app",
            api.base
        );
        async move {
            Ok::<Value, Box<dyn std::error::Error + Send + Sync>>(
                reqwest::get(url).await?.json().await?,
            )
        }
    };
    // Verified, but no connection yet: nothing to send people to.
    assert_eq!(discover("zoe@corp.example").await?, json!({ "sso": false }));
    let store = Store::connect(&url, Pusher::none()).await?;
    sqlx::query(
        "INSERT INTO sso_connections (id, workspace_id, issuer, client_id, client_secret_sealed, \
         created_at, updated_at) VALUES ('conn1', $1, 'https://idp.corp.example', 'c', 'v1:x', 0, 0)",
    )
    .bind(&acme)
    .execute(store.pool())
    .await?;
    store.pool().close().await;

    let b = discover("Zoe@CORP.example").await?;
    assert_eq!(b["sso"], true, "{b}");
    let start = b["start_url"].as_str().ok_or("start_url")?;
    assert_eq!(
        start,
        format!(
            "/.wrnexus/sso/start?workspace_id={acme}&return_to=/app&login_hint=zoe%40corp.example"
        )
    );
    assert_eq!(
        discover("zoe@other.example").await?,
        json!({ "sso": false })
    );

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let signin = format!("{}/.wrnexus/signin", api.base);
    // The form sent without a password goes to the provider.
    let res = browser
        .post(&signin)
        .form(&[
            ("email", "zoe@corp.example"),
            ("password", ""),
            ("return_to", "/app"),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers().get("location").and_then(|v| v.to_str().ok());
    assert_eq!(location, Some(start));
    // Elsewhere a password is still required.
    let res = browser
        .post(&signin)
        .json(&json!({ "email": "zoe@other.example" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let b: Value = res.json().await?;
    assert_eq!(
        (code(&b), b["field"].as_str()),
        ("missing_field", Some("password"))
    );
    // A password sign-in of someone at the domain still works here: only
    // the workspace's own policy, at the gateway, may refuse it.
    let res = browser
        .post(&signin)
        .json(&json!({ "email": "ann@corp.example", "password": "correct horse battery" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}

/// The domain's status as its owner lists it, once it is `want` (or after
/// 20 seconds, whatever it is).
async fn status_becomes(api: &Api, token: &str, ws: &str, want: &str) -> TestResult<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, b) = api
            .call(
                Method::GET,
                &format!("/workspaces/{ws}/sso/domains"),
                token,
                None,
            )
            .await?;
        let d = b["domains"][0].clone();
        if d["status"] == want || tokio::time::Instant::now() > deadline {
            return Ok(d);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_worker_verifies_and_unverifies_on_its_schedule() -> TestResult {
    let zone = Zone::default();
    let dns = zone.serve().await?;
    on_both_with(
        |c| {
            c.sso.dns_resolver = Some(dns);
            c.sso.domain_recheck_interval = std::time::Duration::from_secs(1);
        },
        |api| {
            let zone = zone.clone();
            async move {
                zone.clear();
                let ann = api.sign_up("ann@example.net").await?;
                let acme = api.team(&ann, "Acme").await?;
                let (_, b) = add(&api, &ann.token, &acme, "worker.example").await?;
                let value = b["domain"]["record"]["value"].as_str().ok_or("value")?;
                zone.set_txt("_wrnexus-challenge.worker.example", value);
                let d = status_becomes(&api, &ann.token, &acme, "verified").await?;
                assert_eq!(d["status"], "verified", "{d}");
                // The record goes: after several checks in a row, unverified.
                zone.clear();
                let d = status_becomes(&api, &ann.token, &acme, "pending").await?;
                assert_eq!(d["status"], "pending", "{d}");
                assert!(d["failed_checks"].as_i64() >= Some(3), "{d}");
                let audit = api
                    .audit(&acme, &ann.token, "action=sso.domain.unverified")
                    .await?;
                assert_eq!(audit.len(), 1, "{audit:?}");
                assert_eq!(audit[0]["actor_kind"], "system", "{audit:?}");
                Ok(())
            }
        },
    )
    .await
}
