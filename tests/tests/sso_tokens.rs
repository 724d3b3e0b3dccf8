//! The ID token checks, with a real provider behind a tampering proxy (the
//! issuer the workspace is connected to): a token signed by a key the JWKS
//! does not name, for another audience, with another nonce, or expired, is
//! refused — no session, a page saying why — and the attempt cannot be
//! replayed, not even once the proxy stops tampering. Tokens re-signed
//! with the key the proxy publishes are taken, so each refusal is the
//! claim's doing. Postgres and Redis.

#[allow(dead_code)]
mod sso_support;

use reqwest::{Client, StatusCode};
use sso_support::proxy::{IdpProxy, Tamper};
use sso_support::{CLIENT_W, Db, Problems, SsoStack, account, acme, landed, sso, start_path};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::client::http;
use wrnexus_e2e::oidc::{OidcProvider, ProviderConfig};

const BOB: (&str, &str, &str) = ("bob-sub", "bob@acme.example", "bob-pw");

async fn tampering(s: &SsoStack, c: &Client, p: &mut Problems) -> TestResult {
    let config = ProviderConfig {
        issuer_path: String::new(),
        clients: vec![s.client(CLIENT_W.0, CLIENT_W.1)],
        accounts: vec![account(BOB)],
    };
    let Some(proxy) = IdpProxy::start(config).await? else {
        return Ok(());
    };
    let idp = &proxy.idp;
    let discovery = idp.discovery().await?;
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap_or_default();
    if !token_endpoint.starts_with(&idp.issuer) {
        return Err(format!("the provider does not name the proxy: {discovery}").into());
    }
    let (_, w, _) = acme(s, c, &idp.issuer).await?;
    let start = start_path(&w, "/app/x");

    // Untouched, then re-signed with the published key: both taken.
    let first = sso(c, &s.base, idp, &start, (BOB.1, BOB.2)).await?;
    let (bob, _) = landed(c, &s.base, &first).await?;
    proxy.tamper(Tamper::Resign);
    let resigned = sso(c, &s.base, idp, &start, (BOB.1, BOB.2)).await?;
    match landed(c, &s.base, &resigned).await {
        Ok((again, _)) => p.check(again.id == bob.id, || "another user".to_string()),
        Err(e) => p.check(false, || {
            format!("a token re-signed with a published key: {e}")
        }),
    }

    let cases = [
        ("a key not in the JWKS", Tamper::UnpublishedKey),
        (
            "another audience",
            Tamper::Audience("someone-else".to_string()),
        ),
        ("another nonce", Tamper::Nonce("not-the-nonce".to_string())),
        ("an expired token", Tamper::Expired),
    ];
    for (what, tamper) in cases {
        proxy.tamper(tamper);
        let landing = sso(c, &s.base, idp, &start, (BOB.1, BOB.2)).await?;
        p.check(landing.session.is_none(), || {
            format!("{what}: a session was opened: {landing:?}")
        });
        p.check(landing.status == StatusCode::BAD_REQUEST, || {
            format!("{what}: answered {} {:?}", landing.status, landing.location)
        });
        p.check(landing.body.contains("ID token"), || {
            format!("{what}: the page does not say why: {}", landing.body)
        });
        // The same callback again, tampered or not: spent.
        for replay_tamper in [None, Some(Tamper::Nothing)] {
            if let Some(t) = replay_tamper {
                proxy.tamper(t);
            }
            let replay = sso_support::callback(c, &landing.callback, &landing.state_cookie).await?;
            p.check(
                replay.session.is_none() && replay.status.is_client_error(),
                || format!("{what}: the replay answered {replay:?}"),
            );
        }
    }
    // A callback opened without the state cookie (in another browser):
    // refused.
    proxy.tamper(Tamper::Nothing);
    let (authorize, _) = sso_support::start(c, &s.base, &start).await?;
    let back = idp
        .login(&OidcProvider::browser()?, &authorize, BOB.1, BOB.2)
        .await?;
    let elsewhere = sso_support::callback(c, &back.callback, "").await?;
    p.check(
        elsewhere.session.is_none() && elsewhere.status == StatusCode::BAD_REQUEST,
        || format!("a callback without the state cookie: {elsewhere:?}"),
    );

    // A fresh attempt works again, and comes back only to this site.
    let evil = start_path(&w, "https://evil.example/");
    let last = sso(c, &s.base, idp, &evil, (BOB.1, BOB.2)).await?;
    p.check(
        last.session.is_some() && last.location.as_deref() == Some("/"),
        || format!("afterwards, asked to go elsewhere: {last:?}"),
    );
    Ok(())
}

#[tokio::test]
async fn tampered_id_tokens_are_refused_and_not_replayable() -> TestResult {
    let Some(s) = SsoStack::start(Db::Postgres, &[]).await? else {
        return Ok(());
    };
    let c = http();
    let mut p = Problems::default();
    if let Err(e) = tampering(&s, &c, &mut p).await {
        p.check(false, || format!("stopped: {e}"));
    }
    p.done(|| s.stack.logs())
}
