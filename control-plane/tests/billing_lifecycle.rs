//! What billing does to a workspace, on SQLite and on Postgres: the state
//! machine (past due, grace, suspension, payment), dunning mail to a local
//! SMTP sink, owner-only views, and events stored across a crash.

mod common;

use common::TestResult;
use common::billing::*;
use common::http::{Api, on_both_with};
use reqwest::{Method, StatusCode};
use std::time::Duration;
use wrnexus_testkit::smtp::SmtpSink;
use wrnexus_testkit::stripe::{WORKSPACE_A, WORKSPACE_B, event, sign};

#[tokio::test]
async fn non_payment_makes_only_that_workspace_read_only() -> TestResult {
    let smtp = SmtpSink::start().await?;
    let url = smtp.url();
    on_both_with(
        move |c| {
            billing_on(c);
            c.mail.smtp_url = Some(url.clone());
        },
        |api| {
            let smtp = smtp.clone();
            async move {
                // Only the dunning mail counts (sign-ups are mailed too).
                let dunning = |m: &wrnexus_testkit::smtp::Mail| m.data.contains("Payment failed");
                let skip = smtp.messages_matching(dunning).len();
                let owner = api.sign_up("owner@example.com").await?;
                let team = create_team(&api, &owner, "Acme").await?;
                let admin = join(&api, &owner, &team, "admin@example.com", "admin").await?;
                let member = join(&api, &owner, &team, "member@example.com", "member").await?;
                let other = create_team(&api, &owner, "Other").await?;
                let stranger = api.sign_up("stranger@example.com").await?;

                send(&api, "customer.subscription.created.json", &team).await?;
                send(&api, "customer.subscription.updated.past_due.json", &team).await?;
                // Past due: still writable during the grace period; the owner is mailed.
                assert_eq!(write(&api, &admin, &team).await?.0, StatusCode::CREATED);
                let mail = smtp
                    .wait_for_matching(skip + 1, Duration::from_secs(10), dunning)
                    .await;
                let mail = &mail[skip..];
                assert_eq!(mail.len(), 1, "{mail:?}");
                assert_eq!(mail[0].to, vec!["owner@example.com".to_string()]);
                assert!(
                    mail[0]
                        .data
                        .contains("Payment failed for the workspace \"Acme\""),
                    "{}",
                    mail[0].data
                );
                let (_, view) = billing(&api, &owner, &team).await?;
                assert!(view["subscription"]["grace_until"].is_string(), "{view}");

                send(&api, "invoice.payment_failed.json", &team).await?;
                send(&api, "customer.subscription.updated.unpaid.json", &team).await?;
                assert_eq!(status_of(&api, &member, &team).await?, "suspended");
                let (s, b) = write(&api, &admin, &team).await?;
                assert_eq!(
                    (s, code(&b)),
                    (StatusCode::FORBIDDEN, "workspace_read_only"),
                    "{b}"
                );
                let (s, _) = api
                    .call(
                        Method::GET,
                        &format!("/workspaces/{team}/projects"),
                        &member.token,
                        None,
                    )
                    .await?;
                assert_eq!(s, StatusCode::OK);
                // The same people's other workspaces are untouched.
                assert_eq!(
                    write(&api, &member, &member.personal).await?.0,
                    StatusCode::CREATED
                );
                assert_eq!(write(&api, &owner, &other).await?.0, StatusCode::CREATED);
                // Paid again: writable.
                send(&api, "invoice.paid.json", &team).await?;
                assert_eq!(status_of(&api, &member, &team).await?, "active");
                assert_eq!(write(&api, &admin, &team).await?.0, StatusCode::CREATED);
                send(&api, "customer.subscription.updated.active.json", &team).await?;
                for (action, n) in [
                    ("billing.paid", 2),
                    ("billing.past_due", 1),
                    ("billing.lapsed", 1),
                ] {
                    assert_eq!(audited(&api, &owner, &team, action).await?, n, "{action}");
                }
                assert_eq!(
                    audited(&api, &owner, &team, "workspace.suspended").await?,
                    1
                );

                // Another customer (B, tied to the other workspace) goes
                // unpaid: only its workspace is suspended.
                let b_event = event(
                    "customer_b.subscription.updated.unpaid.json",
                    &[(WORKSPACE_B, &other)],
                )?;
                deliver(&api, &b_event, Some(&sign(&b_event, SECRET))).await?;
                assert_eq!(status_of(&api, &owner, &other).await?, "suspended");
                assert_eq!(status_of(&api, &owner, &team).await?, "active");
                assert_eq!(write(&api, &admin, &team).await?.0, StatusCode::CREATED);

                // Owner-only views.
                let (s, view) = billing(&api, &owner, &team).await?;
                assert_eq!(s, StatusCode::OK);
                let invoice = &view["invoices"][0];
                assert_eq!(invoice["status"], "paid", "{view}");
                assert_eq!(invoice["number"], "7FE1103-0002");
                assert!(invoice["hosted_invoice_url"].is_string());
                assert_eq!(view["seats"]["members"], 3);
                for user in [&admin, &member] {
                    let (s, b) = billing(&api, user, &team).await?;
                    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
                }
                assert_eq!(
                    billing(&api, &stranger, &team).await?.0,
                    StatusCode::NOT_FOUND
                );
                // No one else was mailed.
                assert_eq!(smtp.messages_matching(dunning).len(), skip + 1);
                Ok(())
            }
        },
    )
    .await
}

#[tokio::test]
async fn grace_ends_and_stored_events_survive_a_crash() -> TestResult {
    on_both_with(
        |c| {
            billing_on(c);
            c.billing.grace_period = Duration::from_secs(1);
        },
        |api| async move {
            let owner = api.sign_up("owner@example.com").await?;
            let team = create_team(&api, &owner, "Acme").await?;
            send(&api, "customer.subscription.created.json", &team).await?;
            send(&api, "customer.subscription.updated.past_due.json", &team).await?;
            assert_eq!(status_of(&api, &owner, &team).await?, "active");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while status_of(&api, &owner, &team).await? != "suspended" {
                assert!(tokio::time::Instant::now() < deadline, "grace never ended");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(audited(&api, &owner, &team, "billing.lapsed").await?, 1);
            Ok(())
        },
    )
    .await?;
    crash_between_ack_and_apply().await
}

/// An event stored (and so acknowledged) by a control plane that died
/// before applying it is applied by the next one's worker.
async fn crash_between_ack_and_apply() -> TestResult {
    use wrnexus_control_plane::billing::event::StripeEvent;
    use wrnexus_control_plane::push::Pusher;
    use wrnexus_control_plane::store::{Store, audit::Meta, sqlite_url};
    let dir = tempfile::tempdir()?;
    let url = sqlite_url(&dir.path().join("t.sqlite"));
    let store = Store::connect(&url, Pusher::none()).await?;
    let account = store
        .sign_up("owner@example.com", "hash", &Meta::system())
        .await?;
    let body = event(
        "customer.subscription.updated.unpaid.json",
        &[(WORKSPACE_A, &account.workspace_id)],
    )?;
    store
        .receive_stripe_event(&StripeEvent::parse(&body)?, &body)
        .await?;
    store.pool().close().await;
    let mut config = common::http::config(&url, None);
    billing_on(&mut config);
    let _api = Api::start(config).await?;
    let store = Store::connect(&url, Pusher::none()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ws = store
            .workspace(&account.workspace_id)
            .await?
            .ok_or("workspace")?;
        if ws.status.as_str() == "suspended" {
            return Ok(());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stored event was never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An event whose application keeps failing waits longer each time instead
/// of being retried on every pass of the worker.
#[tokio::test]
async fn a_failing_event_backs_off() -> TestResult {
    use wrnexus_control_plane::billing::event::StripeEvent;
    use wrnexus_control_plane::store::now;
    common::on_both(|store| async move {
        let body = event("customer.subscription.updated.unpaid.json", &[])?;
        let parsed = StripeEvent::parse(&body)?;
        store.receive_stripe_event(&parsed, &body).await?;
        let due = store.unprocessed_stripe_events(now(), 10).await?;
        assert_eq!(due, vec![parsed.id.clone()]);
        store
            .stripe_event_failed(&parsed.id, "database gone")
            .await?;
        assert!(store.unprocessed_stripe_events(now(), 10).await?.is_empty());
        // Not lost: applying it still works (here no workspace matches it),
        // and then it is done.
        let config = wrnexus_control_plane::config::BillingConfig::default();
        let outcome = store.process_stripe_event(&parsed.id, &config).await?;
        assert_eq!(outcome.as_str(), "unmatched");
        store.stripe_event_failed(&parsed.id, "late").await?;
        assert!(
            store
                .unprocessed_stripe_events(now() + 7200, 10)
                .await?
                .is_empty()
        );
        Ok(())
    })
    .await
}
