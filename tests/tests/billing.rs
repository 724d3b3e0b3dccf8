//! Billing through the whole stack (control plane on Postgres, two gateways
//! on Redis): Stripe's events, signed as Stripe signs them, reach the
//! control plane through a gateway; a workspace that stops paying turns
//! read-only at every gateway within a second, and only that workspace.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, User, http, json_body, sign_up};
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres};
use wrnexus_e2e::stack::Stack;
use wrnexus_testkit::smtp::SmtpSink;
use wrnexus_testkit::stripe::{WORKSPACE_A, event, sign};

const SECRET: &str = "whsec_wrnexus_e2e_endpoint";

/// Deliver a fixture for `team`, as Stripe would, through `gateway`.
async fn deliver(c: &Client, gateway: &str, name: &str, team: &str) -> TestResult {
    let body = event(name, &[(WORKSPACE_A, team)])?;
    let r = c
        .post(format!("{gateway}/.wrnexus/api/v1/billing/stripe/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", sign(&body, SECRET))
        .body(body)
        .send()
        .await?;
    let (status, ack) = json_body(r).await?;
    assert_eq!(status, StatusCode::OK, "{name}: {ack}");
    Ok(())
}

/// A write through `gateway` as `user`: the status and the problem code.
async fn write(c: &Client, gateway: &str, user: &User) -> TestResult<(StatusCode, String)> {
    let r = user
        .req(c, Method::POST, &format!("{gateway}/notes"))
        .json(&json!({ "text": "hello" }))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Ok((status, body["code"].as_str().unwrap_or("").to_string()))
}

/// Wait until a write by `user` answers `want` at every gateway; how long it took.
async fn writes_answer(
    c: &Client,
    gateways: &[&str],
    user: &User,
    want: StatusCode,
    within: Duration,
) -> TestResult<Duration> {
    let started = Instant::now();
    for gateway in gateways {
        loop {
            let (status, code) = write(c, gateway, user).await?;
            if status == want {
                if want == StatusCode::FORBIDDEN {
                    assert_eq!(code, "workspace_read_only");
                }
                break;
            }
            if started.elapsed() > within {
                return Err(format!("{gateway}: still {status} after {within:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(started.elapsed())
}

#[tokio::test]
async fn an_unpaid_workspace_turns_read_only_at_every_gateway() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let smtp = SmtpSink::start().await?;
    let smtp_url = smtp.url();
    let mut stack = Stack::split_with_env(
        &database,
        &redis.url(),
        &[],
        &[
            ("WRNEXUS_STRIPE_WEBHOOK_SECRET", SECRET),
            ("WRNEXUS_BILLING__SMTP_URL", &smtp_url),
            ("WRNEXUS_BILLING__POLL_INTERVAL_MS", "100"),
        ],
    )
    .await?;
    let result = async {
        let (gw2, _) = stack.add_gateway(&redis.url()).await?;
        let gw1 = stack.gateway.clone();
        let gateways = [gw1.as_str(), gw2.as_str()];
        let c = http();
        let owner_email = client::email("owner");
        let mut owner = sign_up(&c, &gw1, &owner_email).await?;
        let mut member = sign_up(&c, &gw1, &client::email("member")).await?;
        // The member's cookie for their personal workspace, kept aside.
        let member_personal = member.clone();
        let team = client::create_workspace(&c, &gw1, &owner, "Acme").await?;
        client::add_member(&c, &gw1, &owner, &member, &team, "member").await?;
        client::switch(&c, &gw1, &mut member, &team).await?;
        client::switch(&c, &gw1, &mut owner, &team).await?;

        // Paid, then past due: writable throughout the grace period.
        deliver(&c, &gw1, "customer.subscription.created.json", &team).await?;
        writes_answer(
            &c,
            &gateways,
            &member,
            StatusCode::OK,
            Duration::from_secs(1),
        )
        .await?;
        deliver(
            &c,
            &gw1,
            "customer.subscription.updated.past_due.json",
            &team,
        )
        .await?;
        deliver(&c, &gw1, "invoice.payment_failed.json", &team).await?;
        assert_eq!(write(&c, &gw2, &member).await?.0, StatusCode::OK);
        // The dunning mail reaches the owner, and only the owner.
        // Only the dunning mail counts (sign-ups are mailed too).
        let dunning = |m: &wrnexus_testkit::smtp::Mail| m.data.contains("Payment failed");
        let mail = smtp
            .wait_for_matching(1, Duration::from_secs(10), dunning)
            .await;
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(mail[0].to, vec![owner_email.clone()]);

        // Unpaid: read-only at both gateways within a second.
        deliver(&c, &gw1, "customer.subscription.updated.unpaid.json", &team).await?;
        let took = writes_answer(
            &c,
            &gateways,
            &member,
            StatusCode::FORBIDDEN,
            Duration::from_secs(1),
        )
        .await?;
        eprintln!("read-only at both gateways after {took:?}");
        for gateway in gateways {
            let r = member
                .req(&c, Method::GET, &format!("{gateway}/notes"))
                .send()
                .await?;
            assert_eq!(r.status(), StatusCode::OK, "reads stay open");
        }
        // The member's other workspace stays writable.
        for gateway in gateways {
            assert_eq!(
                write(&c, gateway, &member_personal).await?.0,
                StatusCode::OK
            );
        }

        // Paid again: writable at both gateways within a second.
        deliver(&c, &gw1, "invoice.paid.json", &team).await?;
        writes_answer(
            &c,
            &gateways,
            &member,
            StatusCode::OK,
            Duration::from_secs(1),
        )
        .await?;
        deliver(&c, &gw1, "customer.subscription.updated.active.json", &team).await?;
        assert_eq!(write(&c, &gw2, &owner).await?.0, StatusCode::OK);
        assert_eq!(
            smtp.messages_matching(dunning).len(),
            1,
            "no one else was mailed"
        );
        TestResult::Ok(())
    }
    .await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    result
}
