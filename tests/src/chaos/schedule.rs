//! One chaos run on a timeline: principals prepared, the load started, then
//! per cycle a member removed, the Redis node holding a user's keys
//! crashed, an API key revoked, control plane 2 killed, gateway 3 killed,
//! Postgres cut off, gateway 2 cut off from Redis (one-node form) or the
//! master holding a member's entries cut off (Sentinel, Cluster) with that
//! member removed meanwhile; the load stopped. Every revocation and
//! fault is stamped with when it began and ended.

use super::fleet::Fleet;
use super::load::{Auth, Load, Principal, Sent};
use super::{Shape, now_ms};
use crate::TestResult;
use crate::client::{self, User, create_api_key, join, sign_up};
use reqwest::{Client, Method, StatusCode};
use std::time::Duration;

/// A credential or membership ended through the API.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub principal: usize,
    pub what: String,
    /// When the call was sent, and when it answered (the change committed
    /// and pushed by then).
    pub asked_ms: f64,
    pub at_ms: f64,
}

/// A fault and the gateways it may make fail closed.
#[derive(Debug, Clone)]
pub struct Fault {
    pub what: String,
    pub start_ms: f64,
    pub end_ms: f64,
    /// The gateways it touches (indexes).
    pub gateways: Vec<usize>,
    /// Whether those gateways may serve from memory during it (cut off
    /// from invalidations), up to the staleness bound.
    pub stale: bool,
}

/// Everything that happened, for the check.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub topology: String,
    pub principals: Vec<Principal>,
    pub sent: Vec<Sent>,
    pub revocations: Vec<Revocation>,
    pub faults: Vec<Fault>,
    pub gateways: usize,
    pub started_ms: f64,
    pub ended_ms: f64,
}

/// How long the fleet may take to forward again once a fault is over.
const SERVING_AGAIN: Duration = Duration::from_secs(30);

/// Run the load with every cycle's revocations and faults.
pub async fn drive(fleet: &mut Fleet, shape: &Shape) -> TestResult<Timeline> {
    let c = client::http();
    let urls: Vec<String> = fleet.gateways.iter().map(|g| g.url.clone()).collect();
    let (gw1, gw2) = (urls[0].clone(), urls[1].clone());
    let alice = sign_up(&c, &gw1, &client::email("alice")).await?;
    let ws = alice.workspace_id.clone();
    let mut carol = sign_up(&c, &gw1, &client::email("carol")).await?;
    join(&c, &gw1, &alice, &mut carol, &ws, "viewer").await?;
    let (key_id, secret) = create_api_key(&c, &gw1, &alice, &ws, "viewer").await?;
    let load = Load::new(urls.clone(), Duration::from_millis(shape.interval_ms))?;
    let mut tl = Timeline {
        topology: fleet.kind.name().to_string(),
        principals: Vec::new(),
        sent: Vec::new(),
        revocations: Vec::new(),
        faults: Vec::new(),
        gateways: urls.len(),
        started_ms: now_ms(),
        ended_ms: 0.0,
    };
    let key = |name: &str, id: String, secret: String, role: &str| Principal {
        name: name.into(),
        auth: Auth::Key { id, secret },
        role: role.into(),
        workspace_id: ws.clone(),
    };
    for p in [
        session("alice", &alice, "owner"),
        session("carol", &carol, "viewer"),
        key("viewer-key", key_id, secret, "viewer"),
    ] {
        start(&load, &mut tl, p);
    }
    // The Redis crash takes the node holding Alice's entries.
    let alice_key = format!("wrnexus:{{u:{}}}:user", alice.id);
    for cycle in 0..shape.cycles {
        let mut bob = sign_up(&c, &gw1, &client::email(&format!("bob{cycle}"))).await?;
        join(&c, &gw1, &alice, &mut bob, &ws, "member").await?;
        let mut dave = sign_up(&c, &gw1, &client::email(&format!("dave{cycle}"))).await?;
        join(&c, &gw1, &alice, &mut dave, &ws, "member").await?;
        let (key_id, secret) = create_api_key(&c, &gw1, &alice, &ws, "member").await?;
        let bob_i = start(
            &load,
            &mut tl,
            session(&format!("bob{cycle}"), &bob, "member"),
        );
        let dave_i = start(
            &load,
            &mut tl,
            session(&format!("dave{cycle}"), &dave, "member"),
        );
        let key_i = start(
            &load,
            &mut tl,
            key(
                &format!("member-key{cycle}"),
                key_id.clone(),
                secret,
                "member",
            ),
        );
        serving(&load, &urls, &[bob_i, dave_i, key_i], now_ms()).await?;
        pause(1000).await;

        let path = format!("workspaces/{ws}/members/{}", bob.id);
        let r = revoke(
            &c,
            &gw1,
            &alice,
            &path,
            bob_i,
            "member removed (control plane 1)",
        )
        .await?;
        tl.revocations.push(r);
        pause(1000).await;

        let start_ms = now_ms();
        let what = fleet.redis.crash_and_recover(&alice_key).await?;
        tl.faults.push(Fault {
            what: format!("Redis: {what}"),
            start_ms,
            end_ms: now_ms(),
            gateways: (0..urls.len()).collect(),
            stale: true,
        });
        serving(&load, &urls, &[0], now_ms()).await?;

        let path = format!("workspaces/{ws}/api-keys/{key_id}");
        let r = revoke(
            &c,
            &gw2,
            &alice,
            &path,
            key_i,
            "API key revoked (control plane 2)",
        )
        .await?;
        tl.revocations.push(r);
        pause(500).await;

        let start_ms = now_ms();
        fleet
            .bounce_control_plane(1, Duration::from_secs(3))
            .await?;
        tl.faults.push(Fault {
            what: "control plane 2 killed, started again 3 s later".into(),
            start_ms,
            end_ms: now_ms(),
            gateways: vec![1, 2],
            stale: false,
        });

        let start_ms = now_ms();
        fleet.bounce_gateway(2, Duration::from_secs(2)).await?;
        tl.faults.push(Fault {
            what: "gateway 3 killed, started again 2 s later".into(),
            start_ms,
            end_ms: now_ms(),
            gateways: vec![2],
            stale: false,
        });
        serving(&load, &urls, &[0], now_ms()).await?;

        let start_ms = now_ms();
        fleet.postgres.partition();
        pause(3000).await;
        fleet.postgres.heal();
        tl.faults.push(Fault {
            what: "Postgres cut off from both control planes for 3 s".into(),
            start_ms,
            end_ms: now_ms(),
            gateways: (0..urls.len()).collect(),
            stale: false,
        });
        serving(&load, &urls, &[0], now_ms()).await?;

        let path = format!("workspaces/{ws}/members/{}", dave.id);
        let what = "member removed (control plane 1)";
        if let Some(proxy) = &fleet.gateway_redis {
            let start_ms = now_ms();
            proxy.partition();
            pause(1000).await;
            let r = revoke(&c, &gw1, &alice, &path, dave_i, what).await?;
            tl.revocations.push(r);
            pause(4000).await;
            proxy.heal();
            tl.faults.push(Fault {
                what: "gateway 2 cut off from Redis for 5 s".into(),
                start_ms,
                end_ms: now_ms(),
                gateways: vec![1],
                stale: true,
            });
        } else {
            // The master holding Dave's entries cut off (stopped, its
            // connections open) long enough for a failover; Dave removed
            // while it is.
            let dave_key = format!("wrnexus:{{u:{}}}:user", dave.id);
            let start_ms = now_ms();
            let port = fleet
                .redis
                .freeze_master(&dave_key)
                .await?
                .ok_or("no master to cut off")?;
            pause(1000).await;
            let r = revoke(&c, &gw1, &alice, &path, dave_i, what).await?;
            tl.revocations.push(r);
            let left = 5000.0 - (now_ms() - start_ms);
            if left > 0.0 {
                pause(left as u64).await;
            }
            fleet.redis.thaw(port)?;
            tl.faults.push(Fault {
                what: format!("Redis master {port} cut off (stopped) for 5 s"),
                start_ms,
                end_ms: now_ms(),
                gateways: (0..urls.len()).collect(),
                stale: true,
            });
        }
        serving(&load, &urls, &[0], now_ms()).await?;
        pause(2000).await;
    }
    tl.sent = load.stop().await;
    tl.ended_ms = now_ms();
    Ok(tl)
}

fn session(name: &str, user: &User, role: &str) -> Principal {
    Principal {
        name: name.into(),
        auth: Auth::Session {
            user_id: user.id.clone(),
            cookie: user.cookie.clone(),
        },
        role: role.into(),
        workspace_id: user.workspace_id.clone(),
    }
}

fn start(load: &Load, tl: &mut Timeline, principal: Principal) -> usize {
    let index = tl.principals.len();
    tl.principals.push(principal.clone());
    load.spawn(index, principal);
    index
}

async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// `DELETE` an API path as `owner`: the stamped revocation.
async fn revoke(
    c: &Client,
    gateway: &str,
    owner: &User,
    path: &str,
    principal: usize,
    what: &str,
) -> TestResult<Revocation> {
    let asked_ms = now_ms();
    let url = format!("{gateway}/.wrnexus/api/v1/{path}");
    let response = owner.req(c, Method::DELETE, &url).send().await?;
    let at_ms = now_ms();
    let status = response.status();
    if !(status == StatusCode::OK || status == StatusCode::NO_CONTENT) {
        let body = response.text().await.unwrap_or_default();
        return Err(format!("DELETE {path} answered {status}: {body}").into());
    }
    Ok(Revocation {
        principal,
        what: what.into(),
        asked_ms,
        at_ms,
    })
}

/// Until each of `principals` has been forwarded by every gateway after
/// `since` (the fleet serves again).
async fn serving(load: &Load, urls: &[String], principals: &[usize], since: f64) -> TestResult {
    let deadline = tokio::time::Instant::now() + SERVING_AGAIN;
    loop {
        let missing: Vec<(usize, usize)> = {
            let sent = load.sent.lock().map_err(|_| "the load's log is poisoned")?;
            let mut missing = Vec::new();
            for &p in principals {
                for g in 0..urls.len() {
                    let seen = sent.iter().any(|s| {
                        s.principal == p
                            && s.gateway == g
                            && s.sent_ms > since
                            && s.outcome.forwarded()
                    });
                    if !seen {
                        missing.push((p, g));
                    }
                }
            }
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "(principal, gateway) pairs not forwarded {SERVING_AGAIN:?} after a fault: {missing:?}"
            )
            .into());
        }
        pause(100).await;
    }
}
