//! Stripe webhooks over HTTP, on SQLite and on Postgres: signed exactly as
//! Stripe signs them (fixtures in `testkit/data/stripe`), refused when the
//! signature, its age or the body is wrong, stored once, applied once and in
//! order.

mod common;

use common::TestResult;
use common::billing::*;
use common::http::on_both_with;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wrnexus_testkit::stripe::{WORKSPACE_A, event, now, sign, v1};

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
