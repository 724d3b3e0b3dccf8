//! An instance-wide provider end to end: the operator configures it, the
//! sign-in page offers "Continue with …", a new person signs in through it
//! (a new account with its personal workspace, a session with `amr` `oidc`),
//! signs in again as the same user, and an email that already has a
//! password account is refused. A workspace that allows passwords and its
//! own IdP but not instance-wide providers refuses such a session at the
//! gateway, not the same person's password session. Signing out of a
//! session from the provider signs out there too (RP-initiated logout).
//! Postgres and SQLite, with Redis.

#[allow(dead_code)]
mod sso_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, ORIGIN};
use reqwest::{Client, Method, StatusCode, Url};
use serde_json::{Value, json};
use sso_support::net::Front;
use sso_support::{
    Db, Problems, SsoStack, account, callback, callback_uri_at, landed, password_sign_in, start,
    workspace_ids,
};
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::{self, User, http};
use wrnexus_e2e::oidc::{Client as RpClient, OidcProvider, ProviderConfig};

/// The provider's name in URLs and its button's label.
const NAME: &str = "corp";
const DISPLAY: &str = "Corp Login";
const CLIENT: (&str, &str) = ("wrnexus-instance", "secret-of-the-instance-0123456789");
/// A new person; and one whose email has a password account already.
const ERIN: (&str, &str, &str) = ("erin-sub", "erin@corp.example", "erin-pw");
const FRANK: (&str, &str, &str) = ("frank-sub", "frank@corp.example", "frank-pw");
const APP: &str = "/app/x";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The session token's claims, read without checking its signature.
fn claims(user: &User) -> Value {
    user.token()
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// Where a browser opening `authorize` ends up: `Ok(Some(callback))` when
/// the provider sends it straight back, `Ok(None)` at its login form.
async fn walk(idp: &OidcProvider, browser: &Client, authorize: &str) -> TestResult<Option<String>> {
    let mut url = Url::parse(authorize)?;
    for _ in 0..20 {
        let response = browser.get(url.clone()).send().await?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(LOCATION)
                .ok_or("a redirect without Location")?;
            url = url.join(to.to_str()?)?;
            if !url.as_str().starts_with(&idp.issuer) {
                return Ok(Some(url.to_string()));
            }
            continue;
        }
        let body = response.text().await?;
        if status == StatusCode::OK && body.contains("name=\"login\"") {
            return Ok(None);
        }
        return Err(format!("{status} at {url}: {body}").into());
    }
    Err("more than 20 redirects at the provider".into())
}

/// Give `user_id` the password `from_id` has (client::PASSWORD), as a
/// password reset would.
async fn copy_password(database_url: &str, from_id: &str, user_id: &str) -> TestResult {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(database_url).await?;
    sqlx::query(
        "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE id = $1) \
         WHERE id = $2",
    )
    .bind(from_id)
    .bind(user_id)
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// `GET APP` at the front as `user`: status and JSON body (or text).
async fn app(s: &SsoStack, c: &Client, user: &User) -> TestResult<(StatusCode, Value)> {
    let response = user
        .req(c, Method::GET, &format!("{}{APP}", s.base))
        .header(ACCEPT, "application/json")
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(json!(text))))
}

/// [`app`] until it answers `want` (pushed changes take a moment).
async fn app_until(
    s: &SsoStack,
    c: &Client,
    user: &User,
    want: StatusCode,
) -> TestResult<(StatusCode, Value)> {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = app(s, c, user).await?;
        if status == want || started.elapsed() > Duration::from_secs(3) {
            return Ok((status, body));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The provider's button on the sign-in page: its link, unescaped.
async fn button(s: &SsoStack, c: &Client, p: &mut Problems) -> TestResult<String> {
    let page = c
        .get(format!("{}/.wrnexus/signin?return_to={APP}", s.base))
        .header(ACCEPT, "text/html")
        .send()
        .await?;
    let status = page.status();
    let html = page.text().await?;
    p.check(
        status == StatusCode::OK && html.contains(&format!("Continue with {DISPLAY}")),
        || format!("the sign-in page shows no \"Continue with {DISPLAY}\": {status} {html}"),
    );
    let link = html
        .find("class=\"provider\" href=\"")
        .map(|at| &html[at + "class=\"provider\" href=\"".len()..])
        .and_then(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&").replace("&#x2f;", "/"))
        .ok_or_else(|| format!("no provider link on the sign-in page: {html}"))?;
    p.check(
        link.starts_with(&format!("/.wrnexus/sso/start?provider={NAME}&")),
        || format!("the button links to {link}"),
    );
    Ok(link)
}

async fn instance(s: &SsoStack, c: &Client, idp: &OidcProvider, p: &mut Problems) -> TestResult {
    // 1. A new person signs in through the button.
    let link = button(s, c, p).await?;
    let browser = OidcProvider::browser()?;
    let before = now();
    let (authorize, cookie) = start(c, &s.base, &link).await?;
    p.check(authorize.starts_with(&idp.issuer), || {
        format!("the button went to {authorize}")
    });
    let back = idp.login(&browser, &authorize, ERIN.1, ERIN.2).await?;
    let landing = callback(c, &back.callback, &cookie).await?;
    p.check(landing.location.as_deref() == Some(APP), || {
        format!("the sign-in did not come back to {APP}: {landing:?}")
    });
    let (erin, who) = landed(c, &s.base, &landing).await?;
    p.check(
        who["user"]["email"] == ERIN.1
            && who["workspace"]["kind"] == "personal"
            && workspace_ids(&who) == [erin.workspace_id.clone()],
        || format!("whoami after the first sign-in: {who}"),
    );
    let first = claims(&erin);
    let auth_time = first["auth_time"].as_i64().unwrap_or_default();
    p.check(
        first["amr"] == json!(["oidc"]) && (before - 5..=now() + 5).contains(&auth_time),
        || format!("the session's claims: {first} (signed in at {before})"),
    );
    let (status, body) = app(s, c, &erin).await?;
    p.check(status == StatusCode::OK, || {
        format!("Erin at the app: {status} {body}")
    });

    // Again, silently (the provider remembers her): the same user.
    let (authorize, cookie) = start(c, &s.base, &link).await?;
    let again = walk(idp, &browser, &authorize).await?;
    p.check(again.is_some(), || {
        "the provider asked Erin to sign in again".to_string()
    });
    let mut erin2 = erin.clone();
    if let Some(back) = again {
        let (user, who) = landed(c, &s.base, &callback(c, &back, &cookie).await?).await?;
        p.check(
            user.id == erin.id && workspace_ids(&who) == [erin.workspace_id.clone()],
            || format!("the second sign-in: {who}, first was {}", erin.id),
        );
        let second = claims(&user);
        p.check(
            second["amr"] == json!(["oidc"]) && second["auth_time"] == first["auth_time"],
            || format!("the second session's claims: {second}, first {first}"),
        );
        erin2 = user;
    }

    // Frank has a password account: the provider's word for his email does
    // not sign anyone into it.
    let frank = client::sign_up(c, &s.base, FRANK.1).await?;
    let frank_start = format!("/.wrnexus/sso/start?provider={NAME}&return_to=/");
    let refused = sso_support::sso(c, &s.base, idp, &frank_start, (FRANK.1, FRANK.2)).await?;
    p.check(
        refused.session.is_none()
            && refused.status == StatusCode::FORBIDDEN
            && refused
                .body
                .contains("account with this email already exists"),
        || format!("Frank through the provider: {refused:?}"),
    );
    let frank_again = password_sign_in(s, c, FRANK.1).await?;
    p.check(frank_again.id == frank.id, || {
        "Frank's password signs in someone else".to_string()
    });

    // 2. A workspace allowing passwords and its own IdP only.
    let owner = client::sign_up(c, &s.base, &client::email("owner")).await?;
    let w = client::create_workspace(c, &s.base, &owner, "Passwords").await?;
    client::add_member(c, &s.base, &owner, &erin, &w, "member").await?;
    let mut erin_oidc = erin.clone();
    client::switch(c, &s.base, &mut erin_oidc, &w).await?;
    copy_password(&s.stack.database_url, &owner.id, &erin.id).await?;
    let mut erin_pwd = password_sign_in(s, c, ERIN.1).await?;
    client::switch(c, &s.base, &mut erin_pwd, &w).await?;
    p.check(claims(&erin_pwd)["amr"] == json!(["pwd"]), || {
        format!("Erin's password session: {}", claims(&erin_pwd))
    });
    let path = format!("/workspaces/{w}/sign-in-policy");
    // Requiring SSO needs a connection; this policy does not.
    let (status, body) = s
        .call(
            c,
            &owner,
            Method::PUT,
            &path,
            Some(json!({ "methods": ["sso"] })),
        )
        .await?;
    p.check(
        status == StatusCode::CONFLICT && body["code"] == "sso_connection_missing",
        || format!("require SSO without a connection: {status} {body}"),
    );
    let methods = json!({ "methods": ["password", "sso"] });
    let (status, body) = s.call(c, &owner, Method::PUT, &path, Some(methods)).await?;
    if status != StatusCode::OK {
        return Err(format!("setting the sign-in policy answered {status}: {body}").into());
    }
    p.check(
        body["methods"] == json!(["password", "sso"]) && body["require_sso"] == false,
        || format!("the policy set: {body}"),
    );
    let (status, body) = app_until(s, c, &erin_oidc, StatusCode::FORBIDDEN).await?;
    p.check(
        status == StatusCode::FORBIDDEN && body["code"] == "sign_in_method_not_allowed",
        || format!("Erin's provider session in W: {status} {body}"),
    );
    let (status, body) = app(s, c, &erin_pwd).await?;
    p.check(status == StatusCode::OK, || {
        format!("Erin's password session in W: {status} {body}")
    });
    let (status, body) = app(s, c, &erin).await?;
    p.check(status == StatusCode::OK, || {
        format!("Erin's provider session in her own workspace: {status} {body}")
    });

    // 3. Signing out of a session from the provider signs out there too.
    let out = erin2
        .req(c, Method::POST, &format!("{}/.wrnexus/signout", s.base))
        .header(ACCEPT, "text/html")
        .header(ORIGIN, &s.base)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await?;
    let status = out.status();
    let to = out
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let end_session = idp.discovery().await?["end_session_endpoint"]
        .as_str()
        .unwrap_or("(none)")
        .to_string();
    let param = |url: &Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let signin = format!("{}/.wrnexus/signin", s.base);
    let parsed = Url::parse(&to).ok();
    p.check(
        status == StatusCode::SEE_OTHER
            && to.starts_with(&format!("{end_session}?"))
            && parsed
                .as_ref()
                .and_then(|u| param(u, "client_id"))
                .as_deref()
                == Some(CLIENT.0)
            && parsed
                .as_ref()
                .and_then(|u| param(u, "post_logout_redirect_uri"))
                == Some(signin.clone()),
        || format!("signing out: {status} to {to:?} (end session at {end_session})"),
    );
    let (status, body) = app_until(s, c, &erin2, StatusCode::UNAUTHORIZED).await?;
    p.check(status == StatusCode::UNAUTHORIZED, || {
        format!("the signed-out session: {status} {body}")
    });
    let (status, body) = app(s, c, &erin).await?;
    p.check(status == StatusCode::OK, || {
        format!("Erin's other session after signing out of one: {status} {body}")
    });
    if parsed.is_some() && to.starts_with(&idp.issuer) {
        let after = idp.logout(&browser, &to).await?;
        p.check(after.as_deref() == Some(signin.as_str()), || {
            format!("after the provider's logout the browser went to {after:?}")
        });
        let (authorize, _) = start(c, &s.base, &link).await?;
        let silent = walk(idp, &browser, &authorize).await?;
        p.check(silent.is_none(), || {
            format!("the provider signed Erin in silently after the logout: {silent:?}")
        });
    }
    Ok(())
}

async fn run(db: Db) -> TestResult {
    let front = Front::bind().await?;
    let base = front.url.clone();
    let rp = RpClient::new(CLIENT.0, CLIENT.1, &callback_uri_at(&base))
        .post_logout_redirect(&format!("{base}/.wrnexus/signin"));
    let config = ProviderConfig {
        issuer_path: String::new(),
        clients: vec![rp],
        accounts: vec![account(ERIN), account(FRANK)],
    };
    let Some(idp) = OidcProvider::start(config).await? else {
        return Ok(());
    };
    let providers = format!(
        "[{{ name = \"{NAME}\", display_name = \"{DISPLAY}\", issuer = \"{}\", \
         client_id = \"{}\", client_secret = \"{}\" }}]",
        idp.issuer, CLIENT.0, CLIENT.1
    );
    let env = [("WRNEXUS_CONTROL_PLANE__OIDC_PROVIDERS", providers.as_str())];
    let Some(s) = SsoStack::start_at(front, db, &[], &env).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = instance(&s, &c, &idp, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| format!("{}\n--- provider ---\n{}", s.stack.logs(), idp.output()))
}

#[tokio::test]
async fn an_instance_wide_provider_signs_people_in_and_out() -> TestResult {
    run(Db::Postgres).await
}

#[tokio::test]
async fn an_instance_wide_provider_on_sqlite() -> TestResult {
    run(Db::Sqlite).await
}
