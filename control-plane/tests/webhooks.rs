//! Outbound webhooks end to end, on SQLite and on Postgres: endpoints, the
//! outbox, the delivery worker against a local receiver, retries, restarts.

mod common;
mod webhooks_support;

use std::time::Duration;
use tokio::sync::oneshot;
use webhooks_support::{
    Receiver, Running, TestResult, body_json, connect, log_when, on_both, quick,
    verify_independently,
};
use wrnexus_control_plane::store::audit::{AuditQuery, Meta};
use wrnexus_control_plane::store::{Store, StoreError, sqlite_url};

#[tokio::test]
async fn deliveries_arrive_signed_and_only_to_their_workspace() -> TestResult {
    on_both(|url| async move {
        let store = connect(&url).await?;
        let meta = Meta::system();
        let a = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let b = store
            .sign_up("bob@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let (recv_a, recv_b) = (Receiver::start(0).await?, Receiver::start(0).await?);
        let ep_a = store
            .create_webhook_endpoint(&a, &recv_a.url, &["*".into()], "a", &meta)
            .await?;
        let ep_b = store
            .create_webhook_endpoint(&b, &recv_b.url, &["webhook.test".into()], "", &meta)
            .await?;
        assert!(ep_a.secret.starts_with("whsec_"));
        // Listing never shows the secret.
        let listed = serde_json::to_string(&store.webhook_endpoints(&a).await?)?;
        assert!(
            listed.contains(&ep_a.endpoint.id) && !listed.contains("whsec_"),
            "{listed}"
        );
        assert!(!listed.contains(&ep_b.endpoint.id));

        let event_a = store.emit_test_event(&a, &meta).await?;
        let event_b = store.emit_test_event(&b, &meta).await?;
        let worker = Running::start(&store, quick(3, 1))?;
        let log_a = log_when(&store, &a, 15, |d| d.status == "delivered").await?;
        let log_b = log_when(&store, &b, 15, |d| d.status == "delivered").await?;
        worker.stop().await?;

        let (seen_a, seen_b) = (recv_a.seen(), recv_b.seen());
        assert_eq!(seen_a.len(), 1, "{seen_a:?}");
        assert_eq!(seen_b.len(), 1, "{seen_b:?}");
        for (seen, secret, event, ws) in [
            (&seen_a[0], &ep_a.secret, &event_a, &a),
            (&seen_b[0], &ep_b.secret, &event_b, &b),
        ] {
            verify_independently(secret, seen)?;
            assert_eq!(seen.headers["webhook-id"], event.as_str());
            assert_eq!(seen.headers["content-type"], "application/json");
            let body = body_json(seen)?;
            assert_eq!(body["workspace_id"], ws.as_str(), "{body}");
            assert_eq!(body["type"], "webhook.test");
            // Nothing of the other workspace appears in the body.
            let other = if ws == &a { &b } else { &a };
            assert!(!String::from_utf8_lossy(&seen.body).contains(other.as_str()));
        }
        // A's secret does not verify B's delivery.
        assert!(verify_independently(&ep_a.secret, &seen_b[0]).is_err());
        assert_eq!(log_a.len(), 1);
        assert_eq!((log_a[0].attempts, log_a[0].last_status), (1, Some(204)));
        assert_eq!(log_a[0].event_id, event_a);
        assert_eq!(log_a[0].endpoint_id, ep_a.endpoint.id);
        assert_eq!(log_a[0].next_attempt_at, None);
        assert_eq!(log_b.len(), 1);
        assert_eq!(log_b[0].event_id, event_b);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn failures_back_off_and_end_dead() -> TestResult {
    on_both(|url| async move {
        let store = connect(&url).await?;
        let meta = Meta::system();
        let ws = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let failing = Receiver::start(usize::MAX).await?;
        // A port nobody listens on: connection errors.
        let closed = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            format!("http://{}/hook", l.local_addr()?)
        };
        let ep_500 = store
            .create_webhook_endpoint(&ws, &failing.url, &["webhook.test".into()], "", &meta)
            .await?;
        let ep_closed = store
            .create_webhook_endpoint(&ws, &closed, &["*".into()], "", &meta)
            .await?;
        let event = store.emit_test_event(&ws, &meta).await?;
        let worker = Running::start(&store, quick(3, 1))?;
        let log = log_when(&store, &ws, 30, |d| d.status == "dead").await?;
        worker.stop().await?;

        assert_eq!(log.len(), 2, "{log:?}");
        for entry in &log {
            assert_eq!(entry.attempts, 3, "{entry:?}");
            assert_eq!(entry.event_id, event);
            assert!(entry.last_attempt_at.is_some());
            assert_eq!(entry.next_attempt_at, None);
        }
        let by = |id: &str| log.iter().find(|d| d.endpoint_id == id).unwrap();
        let e500 = by(&ep_500.endpoint.id);
        assert_eq!(e500.last_status, Some(500));
        assert!(
            e500.last_error.as_deref().unwrap_or("").contains("500"),
            "{e500:?}"
        );
        let eclosed = by(&ep_closed.endpoint.id);
        assert_eq!(eclosed.last_status, None);
        assert!(eclosed.last_error.is_some(), "{eclosed:?}");

        let seen = failing.seen();
        assert_eq!(seen.len(), 3, "exactly max_attempts requests");
        assert!(
            seen.iter()
                .all(|r| r.headers["webhook-id"] == event.as_str())
        );
        assert!(
            seen.iter().all(|r| r.body == seen[0].body),
            "the same bytes each time"
        );
        // Backoff of 1 s then 2 s (whole seconds): the third attempt comes
        // more than 2 s after the first.
        let spread = seen[2].at - seen[0].at;
        assert!(spread > Duration::from_secs(2), "{spread:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_restarted_worker_delivers_what_was_pending() -> TestResult {
    on_both(|url| async move {
        let store = connect(&url).await?;
        let meta = Meta::system();
        let ws = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let receiver = Receiver::start(1).await?;
        let ep = store
            .create_webhook_endpoint(&ws, &receiver.url, &["*".into()], "", &meta)
            .await?;
        let event = store.emit_test_event(&ws, &meta).await?;
        let first = Running::start(&store, quick(5, 2))?;
        log_when(&store, &ws, 15, |d| d.attempts == 1).await?;
        first.stop().await?;
        let log = store.webhook_deliveries(&ws, 10).await?;
        assert_eq!(log[0].status, "pending", "{log:?}");
        assert_eq!(receiver.seen().len(), 1);
        store.pool().close().await;
        drop(store);

        // A new control plane on the same database.
        let store = connect(&url).await?;
        let second = Running::start(&store, quick(5, 2))?;
        let log = log_when(&store, &ws, 20, |d| d.status == "delivered").await?;
        second.stop().await?;
        assert_eq!(log[0].attempts, 2);
        let seen = receiver.seen();
        assert_eq!(seen.len(), 2);
        for r in &seen {
            assert_eq!(r.headers["webhook-id"], event.as_str());
            verify_independently(&ep.secret, r)?;
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() -> TestResult {
    on_both(|url| async move {
        let store = connect(&url).await?;
        let meta = Meta::system();
        let ws = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let audit = |store: Store, ws: String| async move {
            let q = AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            };
            store.audit_log(&ws, &q).await.map(|l| l.len())
        };
        let before = audit(store.clone(), ws.clone()).await?;
        let all = ["*".to_string()];
        for (url, types, field) in [
            ("ftp://example.com/hook", &all[..], "url"),
            ("not a url", &all[..], "url"),
            ("/relative/hook", &all[..], "url"),
            ("http://", &all[..], "url"),
            ("http://example.com/hook", &[][..], "event_types"),
            (
                "http://example.com/hook",
                &["nope.unknown".to_string()][..],
                "event_types",
            ),
            (
                "http://example.com/hook",
                &["webhook.test".to_string(), "member.nope".to_string()][..],
                "event_types",
            ),
        ] {
            let got = store
                .create_webhook_endpoint(&ws, url, types, "", &meta)
                .await;
            assert!(
                matches!(&got, Err(StoreError::Invalid { field: f, .. }) if *f == field),
                "{url} {types:?}: {got:?}"
            );
        }
        assert!(store.webhook_endpoints(&ws).await?.is_empty());
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints")
            .fetch_one(store.pool())
            .await?;
        assert_eq!(rows, 0);
        assert_eq!(audit(store.clone(), ws.clone()).await?, before);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn deleting_an_endpoint_stops_it_and_is_audited() -> TestResult {
    on_both(|url| async move {
        let store = connect(&url).await?;
        let meta = Meta::system();
        let a = store
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let b = store
            .sign_up("bob@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let ep = store
            .create_webhook_endpoint(&a, "http://127.0.0.1:9/hook", &["*".into()], "", &meta)
            .await?;
        let quiet = store
            .create_webhook_endpoint(
                &a,
                "http://127.0.0.1:9/other",
                &["member.added".into()],
                "",
                &meta,
            )
            .await?;
        // A test aimed at one endpoint reaches it even when unsubscribed.
        store.send_test_event(&a, &quiet.endpoint.id, &meta).await?;
        let log = store.webhook_deliveries(&a, 10).await?;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].endpoint_id, quiet.endpoint.id);
        store.emit_test_event(&a, &meta).await?;
        let log = store.webhook_deliveries(&a, 10).await?;
        assert_eq!(log.len(), 2, "fan-out skips the unsubscribed endpoint");
        assert_eq!(log[0].endpoint_id, ep.endpoint.id, "newest first");

        // Another workspace cannot delete it, nor learn it exists.
        let other = store
            .delete_webhook_endpoint(&b, &ep.endpoint.id, &meta)
            .await;
        assert!(
            matches!(other, Err(StoreError::NotFound { .. })),
            "{other:?}"
        );
        assert!(store.webhook_deliveries(&b, 10).await?.is_empty());

        store
            .delete_webhook_endpoint(&a, &ep.endpoint.id, &meta)
            .await?;
        store
            .delete_webhook_endpoint(&a, &quiet.endpoint.id, &meta)
            .await?;
        let again = store
            .delete_webhook_endpoint(&a, &ep.endpoint.id, &meta)
            .await;
        assert!(
            matches!(again, Err(StoreError::NotFound { .. })),
            "{again:?}"
        );
        assert!(store.webhook_endpoints(&a).await?.is_empty());
        let log = store.webhook_deliveries(&a, 10).await?;
        assert!(
            log.iter()
                .all(|d| d.status == "dead" && d.last_error.as_deref() == Some("endpoint deleted")),
            "{log:?}"
        );
        assert!(store.claim_due_deliveries(10, 60).await?.is_empty());
        // New events no longer reach a deleted endpoint.
        store.emit_test_event(&a, &meta).await?;
        assert_eq!(store.webhook_deliveries(&a, 10).await?.len(), 2);

        let q = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        let actions: Vec<String> = store
            .audit_log(&a, &q)
            .await?
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "webhook.created" || *a == "webhook.deleted")
                .count(),
            4,
            "{actions:?}"
        );
        // The audit detail never carries a secret.
        let text = serde_json::to_string(&store.audit_log(&a, &q).await?)?;
        assert!(!text.contains("whsec_"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_lease_keeps_two_workers_off_one_delivery() -> TestResult {
    on_both(|url| async move {
        let one = connect(&url).await?;
        let two = connect(&url).await?;
        let meta = Meta::system();
        let ws = one
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        one.create_webhook_endpoint(&ws, "http://127.0.0.1:9/hook", &["*".into()], "", &meta)
            .await?;
        one.emit_test_event(&ws, &meta).await?;
        let (first, second) = tokio::join!(
            one.claim_due_deliveries(10, 60),
            two.claim_due_deliveries(10, 60)
        );
        let claimed = first?.len() + second?.len();
        assert_eq!(claimed, 1, "one claim only");
        assert!(one.claim_due_deliveries(10, 60).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_delivery_claimed_by_a_worker_that_died_is_sent_once_its_lease_ends() -> TestResult {
    on_both(|url| async move {
        let crashed = connect(&url).await?;
        let meta = Meta::system();
        let ws = crashed
            .sign_up("ann@example.com", "hash", &Meta::system())
            .await?
            .workspace_id;
        let receiver = Receiver::start(0).await?;
        let ep = crashed
            .create_webhook_endpoint(&ws, &receiver.url, &["*".into()], "", &meta)
            .await?;
        let event = crashed.emit_test_event(&ws, &meta).await?;
        // A worker claims the delivery for a second, then dies before
        // sending it or recording anything: its control plane goes away.
        // The lease runs to the whole second after the next one: it holds
        // at least until a second after the claim started.
        let lease_holds_until = std::time::Instant::now() + Duration::from_secs(1);
        let claimed = crashed.claim_due_deliveries(10, 1).await?;
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(claimed[0].event_id, event);
        crashed.pool().close().await;
        drop((crashed, claimed));

        // Another control plane: while the lease holds, nobody claims it...
        let survivor = connect(&url).await?;
        let during_lease = survivor.claim_due_deliveries(10, 1).await?;
        if std::time::Instant::now() < lease_holds_until {
            assert!(during_lease.is_empty(), "{during_lease:?}");
        }
        // ...then its worker takes the delivery over and sends it once.
        let worker = Running::start(&survivor, quick(3, 1))?;
        let log = log_when(&survivor, &ws, 20, |d| d.status == "delivered").await?;
        worker.stop().await?;
        let seen = receiver.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].at >= lease_holds_until,
            "sent while the lease still held"
        );
        assert_eq!(seen[0].headers["webhook-id"], event.as_str());
        verify_independently(&ep.secret, &seen[0])?;
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!((log[0].attempts, log[0].last_status), (1, Some(204)));
        assert_eq!(log[0].event_id, event);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_api_routes_exist() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut config =
        wrnexus_control_plane::ControlPlaneConfig::new(sqlite_url(&dir.path().join("t.sqlite")));
    config.webhooks = quick(2, 1);
    let state = wrnexus_control_plane::build(config, None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(wrnexus_control_plane::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/v1/workspaces/w/webhooks"),
        ("POST", "/v1/workspaces/w/webhooks"),
        ("GET", "/v1/workspaces/w/webhooks/deliveries"),
        ("DELETE", "/v1/workspaces/w/webhooks/ep_1"),
        ("POST", "/v1/workspaces/w/webhooks/ep_1/test"),
    ] {
        let response = client
            .request(method.parse()?, format!("{base}{path}"))
            .send()
            .await?;
        // Unauthenticated, not an unknown route.
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
