//! Stripe at volume: 10 000 deliveries (`WRNEXUS_STRIPE_VOLUME` chooses
//! another count) of a realistic event mix for a hundred paying workspaces,
//! duplicated, reordered and sent sixteen at a time to two control planes on
//! one Postgres database; midway one of them is killed (deliveries to it fail
//! and are retried against the other, as Stripe retries) and started again.
//! Every workspace ends as its latest events say, and each event is applied
//! exactly once.

mod stripe_volume_support;

use futures_util::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stripe_volume_support::check::{applied_once, billing_view, differences};
use stripe_volume_support::{Delivery, Stripe, schedule};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, http, json_body, sign_up};
use wrnexus_e2e::services::{PrivateRedis, fresh_postgres};
use wrnexus_e2e::stack::Stack;
use wrnexus_testkit::stripe::{StripeStandIn, now, sign};

const SECRET: &str = "whsec_wrnexus_volume_endpoint";
const PRICE: &str = "price_1PgafmB7WZ01zgkW6dKueIc5";
const WORKSPACES: usize = 100;
const TRIES: u32 = 12;

/// How the deliveries went, counted as they go.
#[derive(Default)]
struct Tally {
    done: AtomicUsize,
    /// Connections refused (the killed control plane).
    refused: AtomicUsize,
    /// Requests cut short (sent, no answer: killed mid-request).
    cut: AtomicUsize,
    /// Answers other than 200.
    failed: AtomicUsize,
    /// Deliveries that needed a second try or more.
    retried: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

/// Where each of the two control planes is now.
struct Targets(Mutex<[String; 2]>);

impl Targets {
    fn url(&self, n: usize) -> String {
        self.0.lock().map(|t| t[n].clone()).unwrap_or_default()
    }
}

/// Send one event as Stripe does until a control plane answers 200: the
/// `duplicate` flag of that answer.
async fn deliver(
    c: &Client,
    targets: &Targets,
    tally: &Tally,
    body: &str,
    first: usize,
) -> TestResult<bool> {
    let mut target = first;
    for attempt in 0..TRIES {
        if attempt == 1 {
            tally.retried.fetch_add(1, Ordering::Relaxed);
        }
        let url = format!("{}/v1/billing/stripe/webhook", targets.url(target));
        let sent = c
            .post(url)
            .header("content-type", "application/json")
            .header("stripe-signature", sign(body, SECRET))
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == StatusCode::OK => match r.json::<Value>().await {
                Ok(ack) => {
                    return ack["duplicate"]
                        .as_bool()
                        .ok_or_else(|| format!("ack: {ack}").into());
                }
                Err(_) => tally.cut.fetch_add(1, Ordering::Relaxed),
            },
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                if let Ok(mut f) = tally.failures.lock() {
                    f.push(format!("{status}: {text}"));
                }
                tally.failed.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) if e.is_connect() => tally.refused.fetch_add(1, Ordering::Relaxed),
            Err(_) => tally.cut.fetch_add(1, Ordering::Relaxed),
        };
        // Stripe retries later, whichever control plane its request reaches.
        target = 1 - target;
        tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
    }
    Err(format!("no control plane took the event after {TRIES} tries").into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_at_volume_across_two_control_planes_one_crashing() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(redis) = PrivateRedis::start(dir.path()).await? else {
        return Ok(());
    };
    let stand_in = StripeStandIn::start().await?;
    let env = [
        ("WRNEXUS_STRIPE_WEBHOOK_SECRET", SECRET),
        ("WRNEXUS_STRIPE_API_KEY", "sk_test_wrnexus_volume"),
        ("WRNEXUS_BILLING__STRIPE_API_BASE", stand_in.url.as_str()),
        ("WRNEXUS_BILLING__PRICE_ID", PRICE),
        ("WRNEXUS_BILLING__POLL_INTERVAL_MS", "200"),
    ];
    let mut stack = Stack::split_with_env(&database, &redis.url(), &[], &env).await?;
    let result = run(&mut stack, &redis.url(), &stand_in, &env).await;
    if result.is_err() {
        for p in &stack.procs {
            let log = p.output();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines) ---", p.name);
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
    result
}

async fn run(
    stack: &mut Stack,
    redis_url: &str,
    stand_in: &StripeStandIn,
    env: &[(&str, &str)],
) -> TestResult {
    let volume: usize = std::env::var("WRNEXUS_STRIPE_VOLUME")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("WRNEXUS_STRIPE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    // Sixteen at a time, or as many as `WRNEXUS_STRIPE_IN_FLIGHT` says.
    let in_flight: usize = std::env::var("WRNEXUS_STRIPE_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    eprintln!(
        "WRNEXUS_STRIPE_SEED={seed} WRNEXUS_STRIPE_VOLUME={volume} WRNEXUS_STRIPE_IN_FLIGHT={in_flight}"
    );
    let c = http();
    let gateway = stack.gateway.clone();
    let (second, second_name) = stack.add_control_plane(redis_url, env).await?;
    let setup = Instant::now();

    // A hundred workspaces of one owner, each with its Stripe customer, made
    // the product's way: Checkout (against the stand-in) creates it.
    let owner = sign_up(&c, &gateway, &client::email("owner")).await?;
    let names: Vec<String> = (0..WORKSPACES).map(|n| format!("Paying {n}")).collect();
    let ids: Vec<String> = futures_util::stream::iter(names.iter())
        .map(|name| client::create_workspace(&c, &gateway, &owner, name))
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<TestResult<_>>()?;
    let checkouts = futures_util::stream::iter(ids.iter())
        .map(|id| {
            let r = owner.req(
                &c,
                Method::POST,
                &format!("{gateway}/.wrnexus/api/v1/workspaces/{id}/billing/checkout"),
            );
            async move { json_body(r.send().await?).await }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    for answer in checkouts {
        let (status, body) = answer?;
        assert_eq!(status, StatusCode::CREATED, "checkout: {body}");
    }
    let customer_of: HashMap<String, String> = stand_in
        .calls_to("/v1/checkout/sessions")
        .iter()
        .filter_map(|call| {
            Some((
                call.field("client_reference_id")?.to_string(),
                call.field("customer")?.to_string(),
            ))
        })
        .collect();
    let customers: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            Ok((
                id.clone(),
                customer_of
                    .get(id)
                    .ok_or("a checkout without its customer")?
                    .clone(),
            ))
        })
        .collect::<TestResult<_>>()?;
    eprintln!(
        "setup: {WORKSPACES} workspaces with customers in {:?}",
        setup.elapsed()
    );

    // Stripe's events, and the order it sends their copies in.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stripe = Stripe::new(
        StdRng::seed_from_u64(seed ^ 0x5eed),
        &customers,
        now() - 40 * 86_400,
    );
    stripe.run(volume);
    let deliveries = schedule(&mut rng, &stripe.events, 200.0, 600.0);
    let events = Arc::new(stripe.events);
    let expected = stripe.expected;
    assert_eq!(deliveries.len(), volume);

    let targets = Arc::new(Targets(Mutex::new([
        stack.control_plane.clone(),
        second.clone(),
    ])));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let sending = {
        let (c, targets, tally, events) = (
            Client::new(),
            targets.clone(),
            tally.clone(),
            events.clone(),
        );
        tokio::spawn(async move {
            futures_util::stream::iter(deliveries)
                .map(|d: Delivery| {
                    let (c, targets, tally, events) = (&c, &targets, &tally, &events);
                    async move {
                        let dup = deliver(c, targets, tally, &events[d.event].body, d.target).await;
                        tally.done.fetch_add(1, Ordering::Relaxed);
                        dup.map(|dup| (d.event, dup))
                    }
                })
                .buffer_unordered(in_flight)
                .collect::<Vec<_>>()
                .await
        })
    };
    // Midway, the second control plane dies (SIGKILL); at three quarters a
    // new one takes its place.
    let (mut killed_at, mut restarted_at) = (None, None);
    while !sending.is_finished() {
        let done = tally.done.load(Ordering::Relaxed);
        if killed_at.is_none() && done >= volume / 2 {
            stack
                .proc(&second_name)
                .ok_or("no second control plane")?
                .kill();
            killed_at = Some(started.elapsed());
            eprintln!(
                "killed {second_name} after {done} deliveries ({:?})",
                started.elapsed()
            );
        }
        if killed_at.is_some() && restarted_at.is_none() && done >= volume * 3 / 4 {
            let (url, name) = stack.add_control_plane(redis_url, env).await?;
            if let Ok(mut t) = targets.0.lock() {
                t[1] = url;
            }
            restarted_at = Some(started.elapsed());
            eprintln!("{name} started in its place ({:?})", started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acks = sending.await?.into_iter().collect::<TestResult<Vec<_>>>()?;
    let sent_in = started.elapsed();

    // Cut-short events are the billing worker's: wait until none is left.
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&stack.database_url).await?;
    let waited = Instant::now();
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE processed_at IS NULL")
                .fetch_one(&mut db)
                .await?;
        if left == 0 {
            break;
        }
        if waited.elapsed() > Duration::from_secs(120) {
            return Err(format!("{left} stored events still unprocessed after 120 s").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled_in = sent_in + waited.elapsed();
    // Applied in a later second than stored: by a billing worker (the
    // request that stored it died), or inline across a second boundary.
    let by_worker: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE processed_at > received_at")
            .fetch_one(&mut db)
            .await?;

    let (handled, ignored) =
        events.iter().fold(
            (0, 0),
            |(h, i), e| if e.handled { (h + 1, i) } else { (h, i + 1) },
        );
    eprintln!(
        "{volume} deliveries of {} events ({handled} handled, {ignored} of types billing ignores; {} duplicates) \
         to 2 control planes, {in_flight} in flight: sent in {sent_in:?} ({:.0}/s), all processed after {settled_in:?}; \
         killed at {killed_at:?}, replaced at {restarted_at:?}; refused {}, cut short {}, non-200 {}, deliveries retried {}; applied in a later second than stored (by a billing worker, or across a second boundary) {by_worker}",
        events.len(),
        volume - events.len(),
        volume as f64 / sent_in.as_secs_f64(),
        tally.refused.load(Ordering::Relaxed),
        tally.cut.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.retried.load(Ordering::Relaxed),
    );
    if let Ok(f) = tally.failures.lock() {
        for failure in f.iter().take(5) {
            eprintln!("non-200 answer: {failure}");
        }
    }

    applied_once(&mut db, &events, &customers, &acks).await?;

    // Every workspace as its latest events say, as its owner sees it.
    let mut wrong = Vec::new();
    for (n, (id, _)) in customers.iter().enumerate() {
        let view = billing_view(&c, &gateway, &owner, id).await?;
        for d in differences(&view, &expected[n]) {
            wrong.push(format!("workspace {n} ({id}): {d}"));
        }
    }
    let differing: std::collections::BTreeSet<&str> =
        wrong.iter().filter_map(|w| w.split(':').next()).collect();
    eprintln!(
        "{} differences from the latest events in {} of {WORKSPACES} workspaces",
        wrong.len(),
        differing.len()
    );
    for w in wrong.iter().take(30) {
        eprintln!("  {w}");
    }
    assert!(
        wrong.is_empty(),
        "{} workspaces differ from their latest events (seed {seed})",
        differing.len()
    );
    Ok(())
}
