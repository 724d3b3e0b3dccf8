//! Single sign-on end to end, over HTTP, against a real OpenID provider and
//! the suites' DNS server: an owner connects their workspace to its
//! provider and proves its domain; a new person at that domain signs in
//! through it (started directly, from the sign-in form, or after asking
//! `/.wrnexus/sso/discover`) and lands in the workspace with the
//! connection's role, beside a personal workspace, audited and sent as a
//! webhook; signing in again is the same user. Another workspace's
//! provider cannot sign anyone into the first one. Postgres and Redis; the
//! main flow on SQLite too.

#[allow(dead_code)]
mod sso_support;

use reqwest::header::{ACCEPT, LOCATION, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sso_support::{
    ACME, CLIENT_W, CLIENT_W2, Db, Problems, SsoStack, account, acme, landed, sso, start_path,
    subscribe, workspace_ids,
};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, User, http};
use wrnexus_e2e::oidc::{OidcProvider, ProviderConfig};
use wrnexus_e2e::stack::Stack;

const BOB: (&str, &str, &str) = ("bob-sub", "bob@acme.example", "bob-pw");

async fn provider(
    s: &SsoStack,
    client: (&str, &str),
    people: &[(&str, &str, &str)],
) -> TestResult<Option<OidcProvider>> {
    OidcProvider::start(ProviderConfig {
        issuer_path: String::new(),
        clients: vec![s.client(client.0, client.1)],
        accounts: people.iter().copied().map(account).collect(),
    })
    .await
}

/// The connection and the domain, then Bob's first and second
/// sign-ins: the owner, W, and Bob.
async fn connect_and_join(
    s: &SsoStack,
    c: &Client,
    idp: &OidcProvider,
    p: &mut Problems,
) -> TestResult<(User, String, User)> {
    let owner = client::sign_up(c, &s.base, &client::email("owner")).await?;
    let w = client::create_workspace(c, &s.base, &owner, "Acme").await?;
    let (status, body) = subscribe(s, c, &owner, &w, &["sso.member.joined", "sso.logout"]).await?;
    p.check(status == StatusCode::CREATED, || {
        format!("subscribing to sso.member.joined and sso.logout answered {status}: {body}")
    });
    if status != StatusCode::CREATED {
        subscribe(s, c, &owner, &w, &["*"]).await?;
    }

    // The connection; its secret never comes back.
    let path = format!("/workspaces/{w}/sso/connection");
    let bad = json!({ "issuer": "not a url", "client_id": "x", "client_secret": "y" });
    let (status, body) = s.call(c, &owner, Method::PUT, &path, Some(bad)).await?;
    p.check(
        status == StatusCode::BAD_REQUEST && body["field"] == "issuer",
        || format!("a bad issuer: {status} {body}"),
    );
    let view = s.connect(c, &owner, &w, &idp.issuer, CLIENT_W, &[]).await?;
    let id = view["id"].as_str().ok_or("no connection id")?;
    p.check(view["redirect_uri"] == s.callback_uri().as_str(), || {
        format!("redirect_uri: {view}")
    });
    let logout_uri = format!("{}/.wrnexus/sso/backchannel-logout/{id}", s.base);
    p.check(
        view["backchannel_logout_uri"] == logout_uri.as_str(),
        || format!("backchannel_logout_uri: {view}"),
    );
    p.check(!view.to_string().contains(CLIENT_W.1), || {
        format!("PUT showed the secret: {view}")
    });
    // Updated without a secret: the stored one is kept; people now join as
    // viewers.
    let update = json!({ "issuer": idp.issuer, "client_id": CLIENT_W.0, "default_role": "viewer" });
    let (status, body) = s.call(c, &owner, Method::PUT, &path, Some(update)).await?;
    p.check(
        status == StatusCode::OK && body["default_role"] == "viewer" && body["id"] == id,
        || format!("updating the connection: {status} {body}"),
    );
    let (status, got) = s.call(c, &owner, Method::GET, &path, None).await?;
    p.check(
        status == StatusCode::OK && got["issuer"] == idp.issuer.as_str(),
        || format!("GET connection: {status} {got}"),
    );
    p.check(!got.to_string().contains(CLIENT_W.1), || {
        format!("GET showed the secret: {got}")
    });

    // The domain: pending until its record is published.
    let domains = format!("/workspaces/{w}/sso/domains");
    let (status, added) = s
        .call(
            c,
            &owner,
            Method::POST,
            &domains,
            Some(json!({ "domain": ACME })),
        )
        .await?;
    if status != StatusCode::CREATED {
        return Err(format!("adding the domain: {status} {added}").into());
    }
    let record = &added["domain"]["record"];
    p.check(
        record["name"] == format!("_wrnexus-challenge.{ACME}").as_str() && record["type"] == "TXT",
        || format!("the record to publish: {added}"),
    );
    let domain_id = added["domain"]["id"].as_str().ok_or("no domain id")?;
    let verify = format!("{domains}/{domain_id}/verify");
    let (status, early) = s.call(c, &owner, Method::POST, &verify, None).await?;
    p.check(
        status == StatusCode::OK && early["verified"] == false,
        || format!("verified before the record was published: {status} {early}"),
    );
    let value = record["value"].as_str().ok_or("no record value")?;
    s.dns
        .set_txt(record["name"].as_str().ok_or("no name")?, &[value]);
    let (status, checked) = s.call(c, &owner, Method::POST, &verify, None).await?;
    if status != StatusCode::OK || checked["verified"] != true {
        return Err(format!("verifying the published domain: {status} {checked}").into());
    }
    for action in [
        "sso.connection.created",
        "sso.connection.updated",
        "sso.domain.added",
        "sso.domain.verified",
    ] {
        let rows = s.audit(c, &owner, &w, action).await?;
        p.check(rows.len() == 1, || format!("audit `{action}`: {rows:?}"));
    }

    // Home-realm discovery finds W for Bob's email, not for others.
    let discover = |email: &str| {
        c.get(format!("{}/.wrnexus/sso/discover", s.base))
            .query(&[("email", email), ("return_to", "/app/hello")])
            .header(ACCEPT, "application/json")
            .send()
    };
    let found: Value = discover(BOB.1).await?.json().await?;
    let found_url = found["start_url"].as_str().unwrap_or_default().to_string();
    p.check(found["sso"] == true && found_url.contains(&w), || {
        format!("discover for Bob: {found}")
    });
    let other: Value = discover("carl@elsewhere.example").await?.json().await?;
    p.check(other["sso"] == false, || {
        format!("discover elsewhere: {other}")
    });

    // The sign-in form without a password sends Bob to W's provider.
    let form = c
        .post(format!("{}/.wrnexus/signin", s.base))
        .header(ORIGIN, &s.base)
        .form(&[("email", BOB.1), ("return_to", "/app/hello")])
        .send()
        .await?;
    let to = form
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    p.check(
        form.status() == StatusCode::SEE_OTHER
            && to.contains("/.wrnexus/sso/start?")
            && to.contains(&w),
        || format!("the sign-in form for Bob: {} {to}", form.status()),
    );
    let start = if to.starts_with('/') { to } else { found_url };
    let landing = sso(c, &s.base, idp, &start, (BOB.1, BOB.2)).await?;
    p.check(landing.location.as_deref() == Some("/app/hello"), || {
        format!("Bob did not come back to /app/hello: {landing:?}")
    });
    let (bob, who) = landed(c, &s.base, &landing).await?;
    // The callback once more: spent.
    let replay = sso_support::callback(c, &landing.callback, &landing.state_cookie).await?;
    p.check(
        replay.session.is_none() && replay.status.is_client_error(),
        || format!("a replayed callback: {replay:?}"),
    );
    p.check(
        who["workspace"]["id"] == w.as_str() && who["workspace"]["role"] == "viewer",
        || format!("Bob landed elsewhere: {who}"),
    );
    let theirs = workspace_ids(&who);
    let personal = who["workspaces"]
        .as_array()
        .is_some_and(|all| all.iter().any(|x| x["kind"] == "personal"));
    p.check(theirs.len() == 2 && personal, || {
        format!("Bob should have W and a personal workspace: {who}")
    });
    let app = bob
        .req(c, Method::GET, &format!("{}/app/hello", s.base))
        .send()
        .await?;
    p.check(app.status() == StatusCode::OK, || {
        format!("Bob's SSO session at the app: {}", app.status())
    });
    let joined = s.audit(c, &owner, &w, "sso.member.joined").await?;
    p.check(joined.len() == 1, || {
        format!("audit sso.member.joined: {joined:?}")
    });
    let hook = s
        .hooks
        .wait_for("sso.member.joined", sso_support::HOOK_WAIT)
        .await;
    p.check(hook.is_ok(), || format!("webhook: {hook:?}"));

    // Again, straight from the start URL: the same user, no second join.
    let again = sso(
        c,
        &s.base,
        idp,
        &start_path(&w, "/app/again"),
        (BOB.0, BOB.2),
    )
    .await?;
    let (bob_again, _) = landed(c, &s.base, &again).await?;
    p.check(bob_again.id == bob.id, || {
        format!(
            "a second sign-in made another user: {} vs {}",
            bob_again.id, bob.id
        )
    });
    let joined = s.audit(c, &owner, &w, "sso.member.joined").await?;
    p.check(joined.len() == 1, || format!("joined twice: {joined:?}"));
    Ok((owner, w, bob))
}

async fn main_flow(db: Db) -> TestResult {
    let Some(s) = SsoStack::start(db, &[]).await? else {
        return Ok(());
    };
    let Some(idp) = provider(&s, CLIENT_W, &[BOB]).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    let result = connect_and_join(&s, &c, &idp, &mut p).await;
    if let Err(e) = result {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| format!("{}\n--- idp ---\n{}", s.stack.logs(), idp.output()))
}

#[tokio::test]
async fn an_owner_connects_and_people_join_by_signing_in_on_postgres() -> TestResult {
    main_flow(Db::Postgres).await
}

#[tokio::test]
async fn an_owner_connects_and_people_join_by_signing_in_on_sqlite() -> TestResult {
    main_flow(Db::Sqlite).await
}

/// IdP B, W2's, knows Erin and a "Bob" at W's domain, and Dave at its own.
const ERIN: (&str, &str, &str) = ("erin-b", "erin@acme.example", "erin-pw");
const BOB_AT_B: (&str, &str, &str) = ("bob-b", "bob@acme.example", "bob-b-pw");

async fn isolation(s: &SsoStack, c: &Client, p: &mut Problems) -> TestResult {
    let Some(a) = provider(s, CLIENT_W, &[BOB]).await? else {
        return Ok(());
    };
    let Some(b) = provider(s, CLIENT_W2, &[ERIN, BOB_AT_B]).await? else {
        return Ok(());
    };
    let (owner, w, _) = acme(s, c, &a.issuer).await?;
    let bob_landing = sso(c, &s.base, &a, &start_path(&w, "/"), (BOB.1, BOB.2)).await?;
    let (bob, _) = landed(c, &s.base, &bob_landing).await?;

    // W2 lets W's domain in through its own provider, and tries to claim it.
    let owner2 = client::sign_up(c, &s.base, &client::email("owner2")).await?;
    let w2 = client::create_workspace(c, &s.base, &owner2, "Beta").await?;
    s.connect(c, &owner2, &w2, &b.issuer, CLIENT_W2, &[ACME])
        .await?;
    let domains = format!("/workspaces/{w2}/sso/domains");
    let (status, added) = s
        .call(
            c,
            &owner2,
            Method::POST,
            &domains,
            Some(json!({ "domain": ACME })),
        )
        .await?;
    if status == StatusCode::CREATED {
        let record = &added["domain"]["record"];
        let name = record["name"].as_str().ok_or("no name")?;
        let theirs = record["value"].as_str().ok_or("no value")?;
        let (_, w_domains) = s
            .call(
                c,
                &owner,
                Method::GET,
                &format!("/workspaces/{w}/sso/domains"),
                None,
            )
            .await?;
        let ours = w_domains["domains"][0]["record"]["value"]
            .as_str()
            .unwrap_or_default();
        s.dns.set_txt(name, &[ours, theirs]);
        let id = added["domain"]["id"].as_str().ok_or("no id")?;
        let (status, checked) = s
            .call(
                c,
                &owner2,
                Method::POST,
                &format!("{domains}/{id}/verify"),
                None,
            )
            .await?;
        p.check(checked["verified"] != true, || {
            format!("W2 verified W's domain: {status} {checked}")
        });
    } else {
        p.check(status == StatusCode::CONFLICT, || {
            format!("W2 adding W's verified domain: {status} {added}")
        });
    }
    let found: Value = c
        .get(format!("{}/.wrnexus/sso/discover?email={}", s.base, ERIN.1))
        .send()
        .await?
        .json()
        .await?;
    p.check(
        found["start_url"]
            .as_str()
            .is_some_and(|u| u.contains(&w) && !u.contains(&w2)),
        || format!("discovery for W's domain after W2's claim: {found}"),
    );

    // Erin, at W's domain, signs in through B: she joins W2, never W.
    let erin_landing = sso(c, &s.base, &b, &start_path(&w2, "/"), (ERIN.1, ERIN.2)).await?;
    match landed(c, &s.base, &erin_landing).await {
        Ok((erin, who)) => {
            let theirs = workspace_ids(&who);
            p.check(!theirs.contains(&w), || {
                format!("Erin joined W through B: {who}")
            });
            let app = erin
                .req(c, Method::GET, &format!("{}/app/x", s.base))
                .send()
                .await?;
            p.check(app.status() == StatusCode::OK, || {
                format!("Erin in W2: {}", app.status())
            });
        }
        Err(e) => p.check(false, || format!("Erin through B (allowed domain): {e}")),
    }
    let (_, members) = s
        .call(
            c,
            &owner,
            Method::GET,
            &format!("/workspaces/{w}/members"),
            None,
        )
        .await?;
    let emails: Vec<&str> = members["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["email"].as_str()).collect())
        .unwrap_or_default();
    p.check(!emails.contains(&ERIN.1), || {
        format!("W's members: {members}")
    });

    // B's "Bob" (same email, another subject) is not W's Bob, and gets no session.
    let impostor = sso(
        c,
        &s.base,
        &b,
        &start_path(&w2, "/"),
        (BOB_AT_B.1, BOB_AT_B.2),
    )
    .await?;
    p.check(
        impostor.session.is_none() && impostor.status.is_client_error(),
        || format!("B signed in someone as W's Bob: {impostor:?}"),
    );

    // A code from B's provider cannot finish a sign-in started for W.
    let (_, cookie_w) = sso_support::start(c, &s.base, &start_path(&w, "/")).await?;
    let state_w = cookie_w.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let (authorize_b, _) = sso_support::start(c, &s.base, &start_path(&w2, "/")).await?;
    let back = b
        .login(&OidcProvider::browser()?, &authorize_b, ERIN.1, ERIN.2)
        .await?;
    let code = back.code.ok_or("no code from B")?;
    let mixed = format!("{}?code={code}&state={state_w}", s.callback_uri());
    let landing = sso_support::callback(c, &mixed, &cookie_w).await?;
    p.check(landing.session.is_none(), || {
        format!("B's code finished W's sign-in: {landing:?}")
    });

    // Bob's own session through A still works, in W.
    let who = bob
        .req(c, Method::GET, &format!("{}/.wrnexus/whoami", s.base))
        .send()
        .await?;
    p.check(who.status() == StatusCode::OK, || {
        format!("Bob after the attempts: {}", who.status())
    });
    Ok(())
}

#[tokio::test]
async fn another_workspaces_provider_signs_nobody_into_the_first() -> TestResult {
    let Some(s) = SsoStack::start(Db::Postgres, &[]).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = isolation(&s, &c, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| s.stack.logs())
}

/// `wrnexus dev` seals secrets with the key it keeps, and lets no workspace
/// fetch an identity provider on loopback unless started with
/// `--allow-sso-network`: without it the connection is refused naming the
/// issuer and nothing is saved; with it, it is saved.
#[tokio::test]
async fn dev_fetches_a_workspace_provider_on_loopback_only_when_allowed() -> TestResult {
    let stack = Stack::embedded().await?;
    let idp = OidcProvider::start(ProviderConfig {
        issuer_path: String::new(),
        clients: vec![],
        accounts: vec![],
    })
    .await?;
    let Some(idp) = idp else {
        return Ok(());
    };
    let c = http();
    let gw = &stack.gateway;
    let owner = client::sign_up(&c, gw, &client::email("owner")).await?;
    let w = client::create_workspace(&c, gw, &owner, "Acme").await?;
    let url = format!("{gw}/.wrnexus/api/v1/workspaces/{w}/sso/connection");
    let body = json!({ "issuer": idp.issuer, "client_id": "x", "client_secret": "y" });
    let put = owner
        .req(&c, Method::PUT, &url)
        .header(ORIGIN, gw)
        .json(&body)
        .send()
        .await?;
    let (status, problem) = client::json_body(put).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "issuer", "{problem}");
    let got = owner.req(&c, Method::GET, &url).send().await?;
    assert_eq!(got.status(), StatusCode::NOT_FOUND);

    // A developer allows their machine's IdP: the connection is saved.
    let allowed = Stack::embedded_args(&["--allow-sso-network", "127.0.0.0/8"]).await?;
    let gw = &allowed.gateway;
    let owner = client::sign_up(&c, gw, &client::email("owner")).await?;
    let w = client::create_workspace(&c, gw, &owner, "Acme").await?;
    let url = format!("{gw}/.wrnexus/api/v1/workspaces/{w}/sso/connection");
    let put = owner
        .req(&c, Method::PUT, &url)
        .header(ORIGIN, gw)
        .json(&body)
        .send()
        .await?;
    let (status, saved) = client::json_body(put).await?;
    assert!(status.is_success(), "{status} {saved}\n{}", allowed.logs());
    assert_eq!(saved["issuer"], json!(idp.issuer), "{saved}");
    assert_eq!(saved["client_secret_set"], json!(true), "{saved}");
    Ok(())
}
