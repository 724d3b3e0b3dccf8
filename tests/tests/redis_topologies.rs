//! Redis Sentinel and Redis Cluster under a gateway fleet: a master killed
//! mid-traffic, a replica promoted, and the fleet following without a
//! restart; revocations still reach every gateway afterwards. The sets
//! themselves are checked first, with no WRNexus: each promotes a replica
//! holding what the killed master had.

use reqwest::header::{ACCEPT, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, PASSWORD, User, http, json_body, session_set_cookie, until};
use wrnexus_e2e::redis_topology::{ClusterSet, SentinelSet, ask, get, role};
use wrnexus_e2e::services::fresh_postgres;
use wrnexus_e2e::stack::Stack;
use wrnexus_e2e::tokens::claims_of;
use wrnexus_policies::EntryKey;
use wrnexus_policies::entries::INVALIDATION_CHANNEL;

/// A failover's bound: sentinels take ~2–5 s, a cluster ~2–4 s.
const FAILOVER: Duration = Duration::from_secs(20);

/// How long the fleet may take to serve again after a failover.
const RECOVERY: Duration = Duration::from_secs(30);

/// How long a revocation may take to reach every gateway.
const REVOCATION: Duration = Duration::from_secs(5);

/// Until `user` gets `want` for `path` from both gateways; how long each
/// took.
async fn on_both(
    c: &Client,
    user: &User,
    gateways: [&str; 2],
    path: &str,
    want: StatusCode,
    within: Duration,
) -> TestResult<[Duration; 2]> {
    let (first, second) = (
        format!("{}{path}", gateways[0]),
        format!("{}{path}", gateways[1]),
    );
    let (a, b) = tokio::join!(
        until(c, user, &first, want, within),
        until(c, user, &second, want, within)
    );
    Ok([a?, b?])
}

/// Sign `email` in through `gateway`, retrying for up to `within` (the
/// control plane may still be finding the new master).
async fn sign_in(c: &Client, gateway: &str, email: &str, within: Duration) -> TestResult<User> {
    let deadline = Instant::now() + within;
    loop {
        let response = c
            .post(format!("{gateway}/.wrnexus/signin"))
            .header(ACCEPT, "application/json")
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await?;
        let set_cookie = session_set_cookie(&response);
        let (status, body) = json_body(response).await?;
        if let (StatusCode::OK, Some(set_cookie)) = (status, set_cookie) {
            return User::signed_in(email, &body, set_cookie);
        }
        if Instant::now() > deadline {
            return Err(format!("sign-in still answers {status} after {within:?}: {body}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `owner` removes `member` from `owner`'s workspace.
async fn remove(c: &Client, gateway: &str, owner: &User, member: &User) -> TestResult {
    let url = format!(
        "{gateway}/.wrnexus/api/v1/workspaces/{}/members/{}",
        owner.workspace_id, member.id
    );
    let r = owner
        .req(c, Method::DELETE, &url)
        .header(ORIGIN, gateway)
        .send()
        .await?;
    if r.status() != StatusCode::OK {
        return Err(format!("removing a member answered {}", r.status()).into());
    }
    Ok(())
}

/// The keys a request of `user` reads: session, user and membership (in
/// the workspace the cookie names).
fn principal_keys(user: &User) -> TestResult<[String; 3]> {
    let claims = claims_of(user.token())?;
    let sid = claims["sid"]
        .as_str()
        .ok_or("no sid in the session token")?;
    Ok([
        EntryKey::session(&user.id, sid).cache_key(),
        EntryKey::User(user.id.clone()).cache_key(),
        EntryKey::membership(&user.workspace_id, &user.id).cache_key(),
    ])
}

/// The stored entry at `key` on the node on `port`.
async fn entry(port: u16, key: &str) -> TestResult<Value> {
    let body = get(port, key)
        .await?
        .ok_or_else(|| format!("no `{key}` on the node on {port}"))?;
    Ok(serde_json::from_str(&body)?)
}

/// A new user whose slot the master on `node` owns, made a member of
/// `owner`'s workspace (his cookie naming it).
async fn member_on(
    c: &Client,
    gateway: &str,
    owner: &User,
    cluster: &ClusterSet,
    node: u16,
) -> TestResult<User> {
    // A third of the slots are on each master: 24 tries miss all of them
    // about once in 16 000 runs.
    for _ in 0..24 {
        let mut user = client::sign_up(c, gateway, &client::email("bob")).await?;
        let key = EntryKey::User(user.id.clone()).cache_key();
        if cluster.master_port_for(&key).await? == node {
            client::join(c, gateway, owner, &mut user, &owner.workspace_id, "member").await?;
            return Ok(user);
        }
    }
    Err(format!("no user's slot on the master on {node} after 24 sign-ups").into())
}

/// Alice, and Bob a member of her workspace (his cookie naming it); both
/// gateways let Bob in.
async fn alice_and_bob(c: &Client, gateways: [&str; 2]) -> TestResult<(User, User)> {
    let gw = gateways[0];
    let alice = client::sign_up(c, gw, &client::email("alice")).await?;
    let mut bob = client::sign_up(c, gw, &client::email("bob")).await?;
    client::join(c, gw, &alice, &mut bob, &alice.workspace_id, "member").await?;
    on_both(c, &bob, gateways, "/doc", StatusCode::OK, REVOCATION).await?;
    Ok((alice, bob))
}

#[tokio::test]
async fn a_sentinel_set_promotes_its_replica() -> TestResult {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let Some(mut set) = SentinelSet::start(dir.path()).await? else {
        return Ok(());
    };
    let up = started.elapsed();
    let old = set.master_port().await?;
    assert_eq!(role(old).await?, "master");
    ask::<()>(old, redis::cmd("SET").arg("probe").arg("1")).await?;
    let killed = set.kill_master().await?;
    assert_eq!(killed, old);
    let new = set.wait_new_master(old, FAILOVER).await?;
    assert_ne!(new, old);
    assert_eq!(role(new).await?, "master");
    // What the old master had written reached the replica before the kill.
    let probe: Option<String> = ask(new, redis::cmd("GET").arg("probe")).await?;
    assert_eq!(probe.as_deref(), Some("1"));
    eprintln!(
        "sentinel set up in {up:?}, failed over in {:?}",
        started.elapsed() - up
    );
    Ok(())
}

#[tokio::test]
async fn a_cluster_set_promotes_a_replica() -> TestResult {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let Some(mut set) = ClusterSet::start(dir.path()).await? else {
        return Ok(());
    };
    let up = started.elapsed();
    let key = "{u:probe}:k";
    let old = set.master_port_for(key).await?;
    assert_eq!(role(old).await?, "master");
    ask::<()>(old, redis::cmd("SET").arg(key).arg("1")).await?;
    set.kill(old)?;
    let new = set.wait_slot_served(key, FAILOVER).await?;
    assert_ne!(new, old);
    assert_eq!(set.master_port_for(key).await?, new);
    let probe: Option<String> = ask(new, redis::cmd("GET").arg(key)).await?;
    assert_eq!(probe.as_deref(), Some("1"));
    eprintln!(
        "cluster set up in {up:?}, failed over in {:?}",
        started.elapsed() - up
    );
    Ok(())
}

#[tokio::test]
async fn a_gateway_fleet_follows_a_sentinel_failover() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(mut sentinels) = SentinelSet::start(dir.path()).await? else {
        return Ok(());
    };
    let mut stack = Stack::split(&database, &sentinels.url()).await?;
    let result = async {
        let (gw2, _) = stack.add_gateway(&sentinels.url()).await?;
        let gw1 = stack.gateway.clone();
        let gateways = [gw1.as_str(), gw2.as_str()];
        let c = http();
        let (alice, bob) = alice_and_bob(&c, gateways).await?;

        // The membership is written to the master the sentinels name.
        let key = EntryKey::membership(&alice.workspace_id, &bob.id).cache_key();
        let master = sentinels.master_port().await?;
        let before = entry(master, &key).await?;
        assert_eq!(before["role"], "member", "{before}");

        // The master dies; the sentinels promote the replica.
        let killed = Instant::now();
        let old = sentinels.kill_master().await?;
        let new = sentinels.wait_new_master(old, FAILOVER).await?;
        let promoted = killed.elapsed();

        // Nothing restarted: both gateways let Bob in again, and a sign-in
        // (a new session written to the new master) works on both.
        let back = on_both(&c, &bob, gateways, "/doc", StatusCode::OK, RECOVERY).await?;
        let again = sign_in(&c, &gw1, &bob.email, RECOVERY).await?;
        on_both(&c, &again, gateways, "/doc", StatusCode::OK, RECOVERY).await?;
        let recovered = killed.elapsed();
        let [session, _, _] = principal_keys(&again)?;
        entry(new, &session).await?;

        // A removal after the failover reaches both gateways, and its entry
        // is on the new master.
        remove(&c, &gw1, &alice, &bob).await?;
        let seen = on_both(
            &c,
            &bob,
            gateways,
            "/doc",
            StatusCode::FORBIDDEN,
            REVOCATION,
        )
        .await?;
        let after = entry(new, &key).await?;
        assert!(after["role"].is_null(), "{after}");
        let versions = (before["version"].as_i64(), after["version"].as_i64());
        assert!(
            matches!(versions, (Some(b), Some(a)) if a > b),
            "{before} then {after}"
        );
        eprintln!(
            "sentinel: master {old} -> {new} in {promoted:?}; Bob back after {back:?}, \
             fleet serving {recovered:?} after the kill; removal seen after {seen:?}"
        );
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}\n{}", stack.logs(), sentinels.logs());
    }
    result
}

#[tokio::test]
async fn a_gateway_fleet_runs_on_a_redis_cluster() -> TestResult {
    let Some(database) = fresh_postgres().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let Some(mut cluster) = ClusterSet::start(dir.path()).await? else {
        return Ok(());
    };
    // The control plane and the first gateway start from node 0, the
    // second gateway from node 3: they subscribe on different nodes.
    let mut stack = Stack::split(&database, &cluster.url_from(0)).await?;
    let result = async {
        let (gw2, _) = stack.add_gateway(&cluster.url_from(3)).await?;
        let gw1 = stack.gateway.clone();
        let gateways = [gw1.as_str(), gw2.as_str()];
        let c = http();
        // The first gateway (and the control plane) subscribe on node 0,
        // the second on node 3.
        let ports = cluster.ports();
        for node in [ports[0], ports[3]] {
            let (_, subscribers): (String, i64) = ask(
                node,
                redis::cmd("PUBSUB").arg("NUMSUB").arg(INVALIDATION_CHANNEL),
            )
            .await?;
            assert!(subscribers >= 1, "nobody subscribed on node {node}");
        }
        let alice = client::sign_up(&c, &gw1, &client::email("alice")).await?;
        let mut carol = client::sign_up(&c, &gw1, &client::email("carol")).await?;
        client::join(&c, &gw1, &alice, &mut carol, &alice.workspace_id, "member").await?;
        on_both(&c, &carol, gateways, "/doc", StatusCode::OK, REVOCATION).await?;
        // Bob's slot is on the master a gateway subscribes on, so the
        // failover below takes that gateway's subscription down too.
        let mut subscribed_master = None;
        for node in [ports[0], ports[3]] {
            if role(node).await? == "master" {
                subscribed_master = Some(node);
                break;
            }
        }
        let target = subscribed_master.ok_or("neither node 0 nor node 3 is a master")?;
        let bob = member_on(&c, &gw1, &alice, &cluster, target).await?;
        on_both(&c, &bob, gateways, "/doc", StatusCode::OK, REVOCATION).await?;

        // Bob's session, user and membership are in one slot, on one master.
        let keys = principal_keys(&bob)?;
        let mut slots = Vec::new();
        for key in &keys {
            slots.push(cluster.keyslot(key).await?);
        }
        assert!(
            slots.iter().all(|s| *s == slots[0]),
            "{keys:?} in {slots:?}"
        );
        let key = &keys[2];
        let owner = cluster.master_port_for(key).await?;
        let before = entry(owner, key).await?;
        assert_eq!(before["role"], "member", "{before}");

        // A removal published through one node reaches the gateway
        // subscribed on another.
        remove(&c, &gw1, &alice, &carol).await?;
        let first = on_both(
            &c,
            &carol,
            gateways,
            "/doc",
            StatusCode::FORBIDDEN,
            REVOCATION,
        )
        .await?;

        // The master owning Bob's slot, a gateway's subscription with it,
        // dies; its replica takes over.
        assert_eq!(owner, target);
        let killed = Instant::now();
        cluster.kill(owner)?;
        let new = cluster.wait_slot_served(key, FAILOVER).await?;
        let promoted = killed.elapsed();

        // Both gateways let Bob in again, and a new session (in his slot,
        // so on the promoted node) works on both.
        let back = on_both(&c, &bob, gateways, "/doc", StatusCode::OK, RECOVERY).await?;
        let again = sign_in(&c, &gw1, &bob.email, RECOVERY).await?;
        on_both(&c, &again, gateways, "/doc", StatusCode::OK, RECOVERY).await?;
        let recovered = killed.elapsed();
        let [session, _, _] = principal_keys(&again)?;
        entry(new, &session).await?;

        // A second removal, written to the promoted node, reaches both.
        remove(&c, &gw1, &alice, &bob).await?;
        let second = on_both(
            &c,
            &bob,
            gateways,
            "/doc",
            StatusCode::FORBIDDEN,
            REVOCATION,
        )
        .await?;
        let after = entry(new, key).await?;
        assert!(after["role"].is_null(), "{after}");
        eprintln!(
            "cluster: slot {} moved {owner} -> {new} in {promoted:?}; removal seen after \
             {first:?}; Bob back after {back:?}, fleet serving {recovered:?} after the kill; \
             second removal seen after {second:?}",
            slots[0]
        );
        TestResult::Ok(())
    }
    .await;
    if let Err(e) = &result {
        eprintln!("{e}\n{}\n{}", stack.logs(), cluster.logs());
    }
    result
}
