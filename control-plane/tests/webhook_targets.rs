//! Outbound webhooks never reach loopback, private, link-local, CGNAT,
//! multicast, unspecified, broadcast or cloud metadata addresses unless an
//! operator allows the network: refused when an endpoint is created (in
//! every spelling the URL parser reads), and again at delivery, where a
//! name is resolved and checked before connecting. SQLite and Postgres.

mod common;
mod webhooks_support;

use common::http::on_both_with;
use common::team::code;
use reqwest::{Method, StatusCode};
use serde_json::json;
use webhooks_support::{Receiver, Running, TestResult, connect, log_when, on_both, quick};
use wrnexus_control_plane::config::WebhookConfig;
use wrnexus_control_plane::store::audit::Meta;
use wrnexus_control_plane::webhook_target::parse_networks;

/// Each refused URL and the class its message names.
const REFUSED: &[(&str, &str)] = &[
    ("http://127.0.0.1:9/hook", "a loopback address"),
    ("http://127.1.2.3/hook", "a loopback address"),
    ("http://10.0.0.5/hook", "a private address"),
    ("http://172.16.8.1/hook", "a private address"),
    ("https://192.168.1.1/hook", "a private address"),
    ("http://169.254.10.10/hook", "a link-local address"),
    ("http://100.64.0.1/hook", "a shared (CGNAT) address"),
    ("http://224.0.0.1/hook", "a multicast address"),
    ("http://0.0.0.0/hook", "an unspecified address"),
    ("http://255.255.255.255/hook", "a broadcast address"),
    (
        "http://169.254.169.254/latest/meta-data",
        "a cloud metadata address",
    ),
    ("http://[::1]/hook", "a loopback address"),
    ("http://[::]/hook", "an unspecified address"),
    ("http://[fd12:3456::1]/hook", "a private address"),
    ("http://[fe80::1]/hook", "a link-local address"),
    ("http://[ff02::1]/hook", "a multicast address"),
    ("http://[fd00:ec2::254]/hook", "a cloud metadata address"),
    // IPv4 inside IPv6.
    ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
    (
        "http://[::ffff:169.254.169.254]/hook",
        "a cloud metadata address",
    ),
    ("http://[::ffff:10.0.0.1]/hook", "a private address"),
    ("http://[::127.0.0.1]/hook", "a loopback address"),
    // Other spellings of 127.0.0.1 and 169.254.169.254.
    ("http://2130706433/hook", "a loopback address"),
    ("http://0x7f000001/hook", "a loopback address"),
    ("http://0177.0.0.1/hook", "a loopback address"),
    ("http://0x7f.1/hook", "a loopback address"),
    ("http://2852039166/hook", "a cloud metadata address"),
    // A name that resolves to loopback.
    ("http://localhost:9/hook", "a loopback address"),
];

#[tokio::test]
async fn every_forbidden_class_is_refused_at_creation_and_nothing_is_written() -> TestResult {
    on_both_with(
        |_| {},
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let acme = api.team(&ann, "Acme").await?;
            let path = format!("/workspaces/{acme}/webhooks");
            for (url, class) in REFUSED {
                let (s, b) = api
                    .call(
                        Method::POST,
                        &path,
                        &ann.token,
                        Some(json!({ "url": url, "event_types": ["*"] })),
                    )
                    .await?;
                assert_eq!(s, StatusCode::BAD_REQUEST, "{url}: {b}");
                assert_eq!(code(&b), "webhook_target_forbidden", "{url}: {b}");
                assert_eq!(b["field"], "url", "{url}: {b}");
                let detail = b["detail"].as_str().unwrap_or_default();
                assert!(
                    detail.contains("`url`") && detail.contains(class),
                    "{url}: {detail}"
                );
            }
            let (s, b) = api.call(Method::GET, &path, &ann.token, None).await?;
            assert_eq!(s, StatusCode::OK, "{b}");
            assert_eq!(b["webhooks"], json!([]), "an endpoint was written: {b}");
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn allowed_networks_admit_only_themselves() -> TestResult {
    on_both_with(
        |c| {
            c.webhooks.allow_networks =
                parse_networks(&["127.0.0.0/8", "::1/128"]).unwrap_or_default();
        },
        |api| async move {
            let ann = api.sign_up("ann@example.com").await?;
            let acme = api.team(&ann, "Acme").await?;
            let path = format!("/workspaces/{acme}/webhooks");
            let create = |url: &'static str| {
                let (api, path, token) = (&api, &path, &ann.token);
                async move {
                    api.call(
                        Method::POST,
                        path,
                        token,
                        Some(json!({ "url": url, "event_types": ["*"] })),
                    )
                    .await
                }
            };
            for url in [
                "http://127.0.0.1:9/hook",
                "http://[::1]:9/hook",
                "http://[::ffff:127.0.0.1]:9/hook",
                "http://localhost:9/hook",
            ] {
                let (s, b) = create(url).await?;
                assert_eq!(s, StatusCode::CREATED, "{url}: {b}");
            }
            for url in ["http://10.0.0.1/hook", "http://169.254.169.254/"] {
                let (s, b) = create(url).await?;
                assert_eq!(s, StatusCode::BAD_REQUEST, "{url}: {b}");
                assert_eq!(code(&b), "webhook_target_forbidden", "{url}: {b}");
            }
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn a_target_forbidden_at_delivery_is_never_reached() -> TestResult {
    on_both(|url| async move {
        let store = connect(&url).await?;
        let meta = Meta::system();
        let ws = store
            .sign_up("ann@example.com", "hash", &meta)
            .await?
            .workspace_id;
        // Created while the operator allowed loopback (the store itself
        // does not check), delivered after the allow-list has changed: by
        // address, and by a name that resolves to loopback.
        let receiver = Receiver::start(0).await?;
        let by_name = receiver.url.replacen("127.0.0.1", "localhost", 1);
        for target in [&receiver.url, &by_name] {
            store
                .create_webhook_endpoint(&ws, target, &["*".into()], "", &meta)
                .await?;
        }
        store.emit_test_event(&ws, &meta).await?;
        let strict = WebhookConfig {
            allow_networks: Vec::new(),
            ..quick(1, 1)
        };
        let worker = Running::start(&store, strict)?;
        let log = log_when(&store, &ws, 20, |d| d.status == "dead").await?;
        worker.stop().await?;
        assert_eq!(log.len(), 2, "{log:?}");
        for entry in &log {
            let error = entry.last_error.as_deref().unwrap_or_default();
            assert!(
                error.contains("a loopback address") && error.contains("127.0.0.1"),
                "{entry:?}"
            );
            assert_eq!(entry.last_status, None, "{entry:?}");
        }
        assert!(
            log.iter().any(|d| d
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("`localhost`")),
            "{log:?}"
        );
        assert_eq!(receiver.seen().len(), 0, "a forbidden delivery arrived");

        // Allowed again: the next event arrives at both.
        store.emit_test_event(&ws, &meta).await?;
        let worker = Running::start(&store, quick(1, 1))?;
        webhooks_support::eventually("two deliveries", 20, || async {
            (receiver.seen().len() == 2).then_some(())
        })
        .await?;
        worker.stop().await?;
        Ok(())
    })
    .await
}
