//! A verified domain is checked again on a schedule: while its record
//! stays, nothing changes; once it is gone for several checks in a row the
//! domain is unverified (audited, sent as a webhook) and its people are no
//! longer sent to the workspace's provider; published again and checked by
//! the owner, it is back. The re-check worker runs every second here.
//! Postgres and Redis.

#[allow(dead_code)]
mod sso_support;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use sso_support::{ACME, CLIENT_W, Db, HOOK_WAIT, Problems, SsoStack, account, acme, subscribe};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{User, http};
use wrnexus_e2e::oidc::{OidcProvider, ProviderConfig};

const BOB: (&str, &str, &str) = ("bob-sub", "bob@acme.example", "bob-pw");

async fn discovered(s: &SsoStack, c: &Client) -> TestResult<bool> {
    let url = format!("{}/.wrnexus/sso/discover?email={}", s.base, BOB.1);
    let found: Value = c.get(url).send().await?.json().await?;
    Ok(found["sso"] == true)
}

async fn the_domain(s: &SsoStack, c: &Client, owner: &User, w: &str) -> TestResult<Value> {
    let path = format!("/workspaces/{w}/sso/domains");
    let (status, body) = s.call(c, owner, Method::GET, &path, None).await?;
    if status != StatusCode::OK {
        return Err(format!("listing domains: {status} {body}").into());
    }
    Ok(body["domains"][0].clone())
}

async fn rechecks(s: &SsoStack, c: &Client, p: &mut Problems) -> TestResult {
    let Some(idp) = OidcProvider::start(ProviderConfig {
        issuer_path: String::new(),
        clients: vec![s.client(CLIENT_W.0, CLIENT_W.1)],
        accounts: vec![account(BOB)],
    })
    .await?
    else {
        return Ok(());
    };
    let (owner, w, _) = acme(s, c, &idp.issuer).await?;
    let (status, body) = subscribe(s, c, &owner, &w, &["sso.domain.unverified"]).await?;
    if status != StatusCode::CREATED {
        return Err(format!("subscribing: {status} {body}").into());
    }
    let name = format!("_wrnexus-challenge.{ACME}");
    p.check(discovered(s, c).await?, || {
        "not discovered at first".to_string()
    });

    // Checked again while the record stays: still verified.
    let asked = s.dns.queries(&name);
    tokio::time::sleep(Duration::from_secs(3)).await;
    p.check(s.dns.queries(&name) > asked, || {
        format!("no re-check in 3s ({asked} queries before)")
    });
    let domain = the_domain(s, c, &owner, &w).await?;
    p.check(domain["verified_at"].is_i64(), || format!("{domain}"));

    // The record goes: unverified after a few failed checks.
    let record = domain["record"]["value"]
        .as_str()
        .ok_or("no value")?
        .to_string();
    s.dns.clear(&name);
    let started = Instant::now();
    let unverified = loop {
        let domain = the_domain(s, c, &owner, &w).await?;
        if domain["verified_at"].is_null() {
            break Some(domain);
        }
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    match &unverified {
        Some(domain) => p.check(domain["check_error"].is_string(), || {
            format!("no reason given: {domain}")
        }),
        None => p.check(false, || {
            "still verified 20s after the record went".to_string()
        }),
    }
    let rows = s.audit(c, &owner, &w, "sso.domain.unverified").await?;
    p.check(rows.len() == 1, || format!("audit: {rows:?}"));
    let hook = s.hooks.wait_for("sso.domain.unverified", HOOK_WAIT).await;
    p.check(hook.is_ok(), || format!("webhook: {hook:?}"));
    p.check(!discovered(s, c).await?, || {
        "an unverified domain still sends people to the workspace".to_string()
    });

    // Published again and checked: back.
    s.dns.set_txt(&name, &[&record]);
    let id = the_domain(s, c, &owner, &w).await?["id"]
        .as_str()
        .ok_or("no id")?
        .to_string();
    let verify = format!("/workspaces/{w}/sso/domains/{id}/verify");
    let (status, checked) = s.call(c, &owner, Method::POST, &verify, None).await?;
    p.check(
        status == StatusCode::OK && checked["verified"] == true,
        || format!("verifying again: {status} {checked}"),
    );
    p.check(discovered(s, c).await?, || {
        "not discovered again".to_string()
    });
    Ok(())
}

#[tokio::test]
async fn domains_are_checked_again_and_unverified_when_the_record_goes() -> TestResult {
    let fast = [
        ("WRNEXUS_CONTROL_PLANE__DOMAIN_WORKER_ENABLED", "true"),
        ("WRNEXUS_CONTROL_PLANE__DOMAIN_RECHECK_INTERVAL_SECS", "1"),
    ];
    let Some(s) = SsoStack::start_with(Db::Postgres, &[], &fast).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = rechecks(&s, &c, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| s.stack.logs())
}
