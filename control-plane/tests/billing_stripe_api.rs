//! Billing's calls to Stripe, against a local stand-in, on SQLite and on
//! Postgres: Checkout, the billing portal and seat counts; and billing off
//! when Stripe is not configured.

mod common;

use common::TestResult;
use common::billing::*;
use common::http::on_both_with;
use reqwest::{Method, StatusCode};
use std::time::Duration;
use wrnexus_testkit::stripe::{CUSTOMER_A, StripeStandIn, WORKSPACE_A, event, sign};

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
