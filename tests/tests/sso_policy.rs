//! "Require SSO" end to end: once a workspace allows only its own identity
//! provider, a member's password session entering its app is refused at
//! the gateway with `403 sso_required` and a link; following the link
//! through the workspace's provider comes back to the same URL, allowed.
//! The same person's password session still works in their other
//! workspaces, and a session from another workspace's provider never
//! satisfies the first. Postgres and Redis.

#[allow(dead_code)]
mod sso_support;

use reqwest::header::ACCEPT;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sso_support::{
    CLIENT_W, CLIENT_W2, Db, Problems, SsoStack, account, acme, landed, password_sign_in, sso,
    start_path,
};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, User, http};
use wrnexus_e2e::oidc::{OidcProvider, ProviderConfig};

const BOB: (&str, &str, &str) = ("bob-sub", "bob@acme.example", "bob-pw");
const CAROL: (&str, &str, &str) = ("carol-sub", "carol@acme.example", "carol-pw");
const DAVE: (&str, &str, &str) = ("dave-b", "dave@beta.example", "dave-pw");
/// Where the refused requests go.
const APP_URL: &str = "/app/reports?q=1";

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

/// `GET path` at the front as `user`, as an app's script would ask: the
/// status and the JSON body (or the text).
async fn get(s: &SsoStack, c: &Client, user: &User, path: &str) -> TestResult<(StatusCode, Value)> {
    let response = user
        .req(c, Method::GET, &format!("{}{path}", s.base))
        .header(ACCEPT, "application/json")
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(json!(text))))
}

async fn whoami(s: &SsoStack, c: &Client, user: &User) -> TestResult<Value> {
    let url = format!("{}/.wrnexus/whoami", s.base);
    Ok(user.req(c, Method::GET, &url).send().await?.json().await?)
}

/// Record `user_id`'s email as verified, as its mailed link would.
async fn mark_verified(database_url: &str, user_id: &str) -> TestResult {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    sqlx::query("UPDATE users SET email_verified_at = $1 WHERE id = $2")
        .bind(i64::try_from(now)?)
        .bind(user_id)
        .execute(&mut conn)
        .await?;
    Ok(())
}

async fn require_sso(s: &SsoStack, c: &Client, p: &mut Problems) -> TestResult {
    let Some(a) = provider(s, CLIENT_W, &[BOB, CAROL]).await? else {
        return Ok(());
    };
    let Some(b) = provider(s, CLIENT_W2, &[DAVE]).await? else {
        return Ok(());
    };
    // Carol has a password account from before W proved its domain.
    // She proved her address by mail (written straight to the database
    // here): the domain's proof does not take her account over.
    let mut carol = client::sign_up(c, &s.base, CAROL.1).await?;
    mark_verified(&s.stack.database_url, &carol.id).await?;
    let carol_personal = carol.workspace_id.clone();
    let (owner, w, _) = acme(s, c, &a.issuer).await?;
    client::join(c, &s.base, &owner, &mut carol, &w, "member").await?;
    let (status, _) = get(s, c, &carol, APP_URL).await?;
    p.check(status == StatusCode::OK, || {
        format!("Carol before the policy: {status}")
    });
    let bob = sso(c, &s.base, &a, &start_path(&w, "/"), (BOB.1, BOB.2)).await?;
    let (bob, _) = landed(c, &s.base, &bob).await?;

    // Dave signs in through W2's provider and is invited into W too.
    let owner2 = client::sign_up(c, &s.base, &client::email("owner2")).await?;
    let w2 = client::create_workspace(c, &s.base, &owner2, "Beta").await?;
    s.connect(c, &owner2, &w2, &b.issuer, CLIENT_W2, &["beta.example"])
        .await?;
    let dave = sso(c, &s.base, &b, &start_path(&w2, "/"), (DAVE.1, DAVE.2)).await?;
    let (mut dave, _) = landed(c, &s.base, &dave).await?;
    client::add_member(c, &s.base, &owner, &dave, &w, "member").await?;

    // An API key of W's (no sign-in stands behind a key).
    let (_, key) = client::create_api_key(c, &s.base, &owner, &w, "admin").await?;

    // W requires SSO.
    let path = format!("/workspaces/{w}/sign-in-policy");
    let (status, body) = s
        .call(
            c,
            &owner,
            Method::PUT,
            &path,
            Some(json!({ "methods": ["sso"] })),
        )
        .await?;
    if status != StatusCode::OK {
        return Err(format!("setting the sign-in policy answered {status}: {body}").into());
    }
    let (status, read) = s.call(c, &owner, Method::GET, &path, None).await?;
    p.check(
        status == StatusCode::OK && read["methods"] == json!(["sso"]),
        || format!("reading the sign-in policy back: {status} {read}"),
    );
    // The owner's password session may still repair the sign-in policy
    // (above), but is held to it elsewhere in W's API; the key is not.
    let audit = format!("/workspaces/{w}/audit?action=workspace.sign_in_policy.updated");
    let (status, body) = s.call(c, &owner, Method::GET, &audit, None).await?;
    p.check(
        status == StatusCode::FORBIDDEN && body["code"] == "sso_required",
        || format!("the owner's password session reading W's audit log: {status} {body}"),
    );
    let rows: Value = c
        .get(format!("{}/.wrnexus/api/v1{audit}", s.base))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    p.check(
        rows["entries"].as_array().is_some_and(|r| r.len() == 1),
        || format!("policy audit, read with a key: {rows}"),
    );
    // Nothing but a known method is taken.
    let (status, body) = s
        .call(
            c,
            &owner,
            Method::PUT,
            &path,
            Some(json!({ "methods": ["magic"] })),
        )
        .await?;
    p.check(status == StatusCode::BAD_REQUEST, || {
        format!("an unknown method: {status} {body}")
    });

    // The switcher tells who may enter W as they are.
    let flags = |who: &Value| {
        who["workspaces"]
            .as_array()
            .and_then(|all| all.iter().find(|x| x["id"] == w.as_str()).cloned())
            .map(|x| (x["sso_required"].clone(), x["sso_satisfied"].clone()))
    };
    let carol_who = whoami(s, c, &carol).await?;
    p.check(
        flags(&carol_who) == Some((json!(true), json!(false))),
        || format!("whoami of Carol's password session: {carol_who}"),
    );
    let bob_who = whoami(s, c, &bob).await?;
    p.check(flags(&bob_who) == Some((json!(true), json!(true))), || {
        format!("whoami of Bob's session through A: {bob_who}")
    });

    // Carol's password session is refused in W, with the way in.
    let (status, refused) = get(s, c, &carol, APP_URL).await?;
    p.check(
        status == StatusCode::FORBIDDEN && refused["code"] == "sso_required",
        || format!("Carol's password session in W: {status} {refused}"),
    );
    let link = refused["sign_in_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    p.check(
        link.contains("/.wrnexus/sso/start?") && link.contains(&w),
        || format!("sign_in_url: {refused}"),
    );
    let page = carol
        .req(c, Method::GET, &format!("{}{APP_URL}", s.base))
        .header(ACCEPT, "text/html")
        .send()
        .await?;
    let page_status = page.status();
    let html = page.text().await?;
    p.check(
        page_status == StatusCode::FORBIDDEN && html.contains("/.wrnexus/sso/start?"),
        || format!("Carol's browser in W: {page_status} {html}"),
    );
    if !link.is_empty() {
        let back = sso(c, &s.base, &a, &link, (CAROL.1, CAROL.2)).await?;
        p.check(back.location.as_deref() == Some(APP_URL), || {
            format!("the link did not come back to {APP_URL}: {back:?}")
        });
        match landed(c, &s.base, &back).await {
            Ok((carol_sso, _)) => {
                p.check(carol_sso.id == carol.id, || {
                    "the link signed in someone other than Carol".to_string()
                });
                let (status, body) = get(s, c, &carol_sso, APP_URL).await?;
                p.check(status == StatusCode::OK, || {
                    format!("Carol through A, in W: {status} {body}")
                });
            }
            Err(e) => p.check(false, || format!("Carol through the link: {e}")),
        }
    }
    // Her password session still works in her own workspace: it may
    // switch there, and is let in.
    let switched = client::switch(c, &s.base, &mut carol, &carol_personal).await;
    p.check(switched.is_ok(), || {
        format!("Carol's password session switching from W to her own workspace: {switched:?}")
    });
    if switched.is_err() {
        // Signed in again with her password, she lands in her own.
        carol = password_sign_in(s, c, CAROL.1).await?;
    }
    let (status, body) = get(s, c, &carol, APP_URL).await?;
    p.check(
        status == StatusCode::OK && carol.workspace_id == carol_personal,
        || format!("Carol's password session in her own workspace: {status} {body}"),
    );
    // Bob's session through W's provider is unaffected.
    let (status, body) = get(s, c, &bob, APP_URL).await?;
    p.check(status == StatusCode::OK, || {
        format!("Bob (through A) in W: {status} {body}")
    });

    // Dave's session through B never satisfies W.
    let (status, body) = get(s, c, &dave, APP_URL).await?;
    p.check(status == StatusCode::OK, || {
        format!("Dave in W2: {status} {body}")
    });
    if client::switch(c, &s.base, &mut dave, &w).await.is_ok() {
        let (status, body) = get(s, c, &dave, APP_URL).await?;
        p.check(
            status == StatusCode::FORBIDDEN && body["code"] == "sso_required",
            || format!("Dave's session from B in W: {status} {body}"),
        );
    }
    // Nor does B's sign-in when asked for W's link: the link goes to A.
    let link = start_path(&w, APP_URL);
    let (authorize, _) = sso_support::start(c, &s.base, &link).await?;
    p.check(authorize.starts_with(&a.issuer), || {
        format!("W's link went to {authorize}, not A")
    });
    Ok(())
}

#[tokio::test]
async fn require_sso_refuses_password_sessions_with_a_way_in() -> TestResult {
    let Some(s) = SsoStack::start(Db::Postgres, &[]).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = require_sso(&s, &c, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| s.stack.logs())
}
