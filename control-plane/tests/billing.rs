//! Billing with Stripe over HTTP, on SQLite and on Postgres: webhooks signed
//! exactly as Stripe signs them (from the fixtures in `testkit/data/stripe`),
//! stored once and applied once and in order; the state machine; owner-only
//! views; dunning mail to a local SMTP sink; Checkout, portal and seats
//! against a local Stripe stand-in.

mod common;

use common::TestResult;
use common::http::{Api, User, on_both_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_testkit::smtp::SmtpSink;
use wrnexus_testkit::stripe::{
    CUSTOMER_A, StripeStandIn, WORKSPACE_A, WORKSPACE_B, event, now, sign, v1,
};

const SECRET: &str = "whsec_wrnexus_test_endpoint";

fn billing_on(c: &mut ControlPlaneConfig) {
    c.billing.webhook_secret = Some(SECRET.to_string());
    c.billing.poll_interval = Duration::from_millis(100);
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// POST a body to the webhook endpoint with `signature` (or none).
async fn deliver(
    api: &Api,
    body: &str,
    signature: Option<&str>,
) -> TestResult<(StatusCode, Value)> {
    let mut req = api
        .http
        .post(format!("{}/v1/billing/stripe/webhook", api.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    let res = req.send().await?;
    let status = res.status();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Deliver a fixture for workspace `team` (as customer A), signed now.
async fn send(api: &Api, name: &str, team: &str) -> TestResult<Value> {
    let body = event(name, &[(WORKSPACE_A, team)])?;
    let (status, ack) = deliver(api, &body, Some(&sign(&body, SECRET))).await?;
    assert_eq!(status, StatusCode::OK, "{name}: {ack}");
    Ok(ack)
}

async fn create_team(api: &Api, owner: &User, name: &str) -> TestResult<String> {
    let (s, b) = api
        .call(
            Method::POST,
            "/workspaces",
            &owner.token,
            Some(json!({ "name": name })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok(b["workspace"]["id"].as_str().ok_or("id")?.to_string())
}

/// Sign `email` up and make them a `role` of `team`.
async fn join(api: &Api, owner: &User, team: &str, email: &str, role: &str) -> TestResult<User> {
    let user = api.sign_up(email).await?;
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{team}/invitations"),
            &owner.token,
            Some(json!({ "email": email, "role": role })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let token = b["token"].as_str().ok_or("token")?;
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/invitations/{token}/accept"),
            &user.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(user)
}

async fn status_of(api: &Api, user: &User, workspace: &str) -> TestResult<String> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}"),
            &user.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["workspace"]["status"].as_str().unwrap_or("").to_string())
}

/// How many audit rows of `action` the workspace has.
async fn audited(api: &Api, owner: &User, workspace: &str, action: &str) -> TestResult<usize> {
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/workspaces/{workspace}/audit?action={action}"),
            &owner.token,
            None,
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    Ok(b["entries"].as_array().map_or(0, Vec::len))
}

async fn billing(api: &Api, user: &User, workspace: &str) -> TestResult<(StatusCode, Value)> {
    api.call(
        Method::GET,
        &format!("/workspaces/{workspace}/billing"),
        &user.token,
        None,
    )
    .await
}

/// Try a write (creating a project) in `workspace`.
async fn write(api: &Api, user: &User, workspace: &str) -> TestResult<(StatusCode, Value)> {
    let name = format!("p{}", uuid::Uuid::new_v4().simple());
    api.call(
        Method::POST,
        &format!("/workspaces/{workspace}/projects"),
        &user.token,
        Some(json!({ "name": name })),
    )
    .await
}

#[tokio::test]
async fn webhooks_are_verified_stored_once_and_applied_once() -> TestResult {
    on_both_with(billing_on, |api| async move {
        let owner = api.sign_up("owner@example.com").await?;
        let team = create_team(&api, &owner, "Acme").await?;
        let created = event(
            "customer.subscription.created.json",
            &[(WORKSPACE_A, &team)],
        )?;
        let t = now();

        // Refused, and nothing stored or applied.
        let tampered = created.replace("\"active\"", "\"trialing\"");
        let refused = [
            (
                &tampered,
                format!("t={t},v1={}", v1(&created, SECRET, t)),
                "invalid_signature",
            ),
            (
                &created,
                format!("t={},v1={}", t - 301, v1(&created, SECRET, t - 301)),
                "stale_signature",
            ),
            (
                &created,
                format!("t={t},v1={}", v1(&created, "whsec_wrong", t)),
                "invalid_signature",
            ),
            (
                &created,
                format!("t={t},v0={}", v1(&created, SECRET, t)),
                "invalid_signature",
            ),
        ];
        for (body, header, expected) in refused {
            let (s, b) = deliver(&api, body, Some(&header)).await?;
            assert_eq!(
                (s, code(&b)),
                (StatusCode::BAD_REQUEST, expected),
                "{header}: {b}"
            );
        }
        let (s, b) = deliver(&api, &created, None).await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::BAD_REQUEST, "missing_signature")
        );
        let (_, view) = billing(&api, &owner, &team).await?;
        assert_eq!(view["subscription"], Value::Null, "{view}");
        assert_eq!(view["plan"], "free");

        // Secret rotation: two v1 signatures, the old secret's first.
        let rotated = format!(
            "t={t},v1={},v1={}",
            v1(&created, "whsec_retired", t),
            v1(&created, SECRET, t)
        );
        let (s, ack) = deliver(&api, &created, Some(&rotated)).await?;
        assert_eq!(
            (s, &ack["duplicate"]),
            (StatusCode::OK, &json!(false)),
            "{ack}"
        );
        let (_, view) = billing(&api, &owner, &team).await?;
        assert_eq!(view["subscription"]["status"], "active", "{view}");
        assert_eq!(view["plan"], "team");
        assert_eq!(view["seats"]["subscribed"], 3);

        // A redelivery: acknowledged, no second effect.
        let ack = send(&api, "customer.subscription.created.json", &team).await?;
        assert_eq!(ack["duplicate"], true);
        assert_eq!(audited(&api, &owner, &team, "billing.paid").await?, 1);

        // The same new event eight times at once: stored once, applied once.
        let past_due = event(
            "customer.subscription.updated.past_due.json",
            &[(WORKSPACE_A, &team)],
        )?;
        let header = sign(&past_due, SECRET);
        let results =
            futures_util::future::join_all((0..8).map(|_| deliver(&api, &past_due, Some(&header))))
                .await;
        let mut fresh = 0;
        for r in results {
            let (s, ack) = r?;
            assert_eq!(s, StatusCode::OK, "{ack}");
            fresh += usize::from(ack["duplicate"] == json!(false));
        }
        assert_eq!(fresh, 1);
        assert_eq!(audited(&api, &owner, &team, "billing.past_due").await?, 1);

        // A type billing does not handle: acknowledged, nothing changes.
        let before = billing(&api, &owner, &team).await?.1;
        let ack = send(&api, "unknown.type.json", &team).await?;
        assert_eq!(ack["duplicate"], false);
        assert_eq!(billing(&api, &owner, &team).await?.1, before);
        // A workspace with a live subscription is not deleted; once it is
        // canceled (suspended, read-only), it may be.
        let path = format!("/workspaces/{team}");
        let (s, b) = api.call(Method::DELETE, &path, &owner.token, None).await?;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::CONFLICT, "active_subscription"),
            "{b}"
        );
        send(&api, "customer.subscription.deleted.json", &team).await?;
        assert_eq!(status_of(&api, &owner, &team).await?, "suspended");
        let (s, b) = api.call(Method::DELETE, &path, &owner.token, None).await?;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn late_events_never_move_a_workspace_back() -> TestResult {
    on_both_with(billing_on, |api| async move {
        let owner = api.sign_up("owner@example.com").await?;
        let team = create_team(&api, &owner, "Acme").await?;
        send(&api, "customer.subscription.created.json", &team).await?;
        // Reactivation (file 8) arrives before the unpaid update (file 6).
        send(&api, "customer.subscription.updated.active.json", &team).await?;
        send(&api, "customer.subscription.updated.unpaid.json", &team).await?;
        assert_eq!(status_of(&api, &owner, &team).await?, "active");
        let (_, view) = billing(&api, &owner, &team).await?;
        assert_eq!(view["subscription"]["status"], "active", "{view}");
        // The paid invoice (file 7) then its older failure (file 5).
        send(&api, "invoice.paid.json", &team).await?;
        send(&api, "invoice.payment_failed.json", &team).await?;
        let (_, view) = billing(&api, &owner, &team).await?;
        let invoice = &view["invoices"][0];
        assert_eq!(
            (&invoice["id"], &invoice["status"]),
            (&json!("in_WRNtestA0002"), &json!("paid"))
        );
        assert_eq!(audited(&api, &owner, &team, "billing.lapsed").await?, 0);
        // Seats follow the newest event only.
        send(&api, "customer.subscription.updated.quantity.json", &team).await?;
        assert_eq!(
            billing(&api, &owner, &team).await?.1["seats"]["subscribed"],
            5
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn non_payment_makes_only_that_workspace_read_only() -> TestResult {
    let smtp = SmtpSink::start().await?;
    let url = smtp.url();
    on_both_with(
        move |c| {
            billing_on(c);
            c.billing.smtp_url = Some(url.clone());
        },
        |api| {
            let smtp = smtp.clone();
            async move {
                let skip = smtp.messages().len();
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
                let mail = smtp.wait_for(skip + 1, Duration::from_secs(10)).await;
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
                assert_eq!(smtp.messages().len(), skip + 1);
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

#[tokio::test]
async fn checkout_portal_and_seats_go_to_stripe() -> TestResult {
    let stripe = StripeStandIn::start().await?;
    let base = stripe.url.clone();
    on_both_with(
        move |c| {
            billing_on(c);
            c.billing.api_key = Some("sk_test_wrnexus".to_string());
            c.billing.api_base = base.clone();
            c.billing.price_id = Some("price_1PgafmB7WZ01zgkW6dKueIc5".to_string());
        },
        |api| {
            let stripe = stripe.clone();
            async move {
                let owner = api.sign_up("owner@example.com").await?;
                let team = create_team(&api, &owner, "Acme").await?;
                let member = join(&api, &owner, &team, "member@example.com", "member").await?;
                let path = |p: &str| format!("/workspaces/{team}/billing/{p}");

                let (s, b) = api
                    .call(Method::POST, &path("portal"), &owner.token, None)
                    .await?;
                assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "no_billing_account"));
                let (s, _) = api
                    .call(Method::POST, &path("checkout"), &member.token, None)
                    .await?;
                assert_eq!(s, StatusCode::FORBIDDEN);

                let calls = stripe.calls().len();
                let (s, b) = api
                    .call(Method::POST, &path("checkout"), &owner.token, None)
                    .await?;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                assert!(
                    b["session"]["url"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("https://"),
                    "{b}"
                );
                let new = &stripe.calls()[calls..];
                let customer = &new[0];
                assert_eq!(customer.path, "/v1/customers");
                assert_eq!(
                    customer.field("metadata[workspace_id]"),
                    Some(team.as_str())
                );
                assert_eq!(customer.field("email"), Some("owner@example.com"));
                let checkout = &new[1];
                assert_eq!(checkout.path, "/v1/checkout/sessions");
                assert_eq!(checkout.field("client_reference_id"), Some(team.as_str()));
                assert_eq!(checkout.field("mode"), Some("subscription"));
                assert_eq!(checkout.field("line_items[0][quantity]"), Some("2"));
                assert_eq!(
                    checkout.field("subscription_data[metadata][workspace_id]"),
                    Some(team.as_str())
                );
                let customer_id = checkout.field("customer").ok_or("customer")?.to_string();

                // Stripe confirms the subscription; one more member joins.
                let created = event(
                    "customer.subscription.created.json",
                    &[(WORKSPACE_A, &team), (CUSTOMER_A, &customer_id)],
                )?;
                deliver(&api, &created, Some(&sign(&created, SECRET))).await?;
                join(&api, &owner, &team, "third@example.com", "viewer").await?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                let pushed = loop {
                    let pushes = stripe.calls_to("/v1/subscription_items/si_WRNtestA");
                    if let Some(last) = pushes.last().filter(|c| c.field("quantity") == Some("3")) {
                        break last.clone();
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "seats never pushed: {pushes:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                assert_eq!(pushed.field("quantity"), Some("3"));

                let (s, b) = api
                    .call(Method::POST, &path("checkout"), &owner.token, None)
                    .await?;
                assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "already_subscribed"));
                let (s, b) = api
                    .call(Method::POST, &path("portal"), &owner.token, None)
                    .await?;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                let portal = stripe.calls_to("/v1/billing_portal/sessions");
                assert_eq!(
                    portal.last().and_then(|c| c.field("customer")),
                    Some(customer_id.as_str())
                );
                Ok(())
            }
        },
    )
    .await
}

#[tokio::test]
async fn without_stripe_configured_billing_says_it_is_off() -> TestResult {
    on_both_with(
        |_| {},
        |api| async move {
            let owner = api.sign_up("owner@example.com").await?;
            let body = event("customer.created.json", &[])?;
            let (s, b) = deliver(&api, &body, Some(&sign(&body, SECRET))).await?;
            assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "billing_disabled"));
            assert!(
                b["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("WRNEXUS_STRIPE_WEBHOOK_SECRET")
            );
            let ws = &owner.personal;
            let (s, b) = api
                .call(
                    Method::POST,
                    &format!("/workspaces/{ws}/billing/checkout"),
                    &owner.token,
                    None,
                )
                .await?;
            assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "billing_disabled"));
            let (s, view) = billing(&api, &owner, ws).await?;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(view["billing_enabled"], false);
            assert!(view["notice"].is_string());
            assert_eq!(view["seats"]["members"], 1);
            Ok(())
        },
    )
    .await
}
