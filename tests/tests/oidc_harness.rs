//! The single sign-on suites' own harness, proven against itself: two real
//! OpenID providers (two tenants' IdPs) publish what relying parties
//! discover; a code flow with PKCE, `state` and `nonce` driven through the
//! login form ends at a relying party made here, whose code buys an ID token
//! that checks out against the provider's JWKS; a key rotation puts the new
//! key first and signs with it; back-channel logouts (asked for, or caused by
//! an RP-initiated logout) reach the relying party as signed logout tokens;
//! the loopback DNS server answers TXT queries over UDP and TCP.

use axum::extract::{Form, Query, State};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::dns::DnsServer;
use wrnexus_e2e::oidc::{Account, Client, OidcProvider, ProviderConfig};

/// The RP's client (id, secret) at tenant A's provider, and at B's.
const A: (&str, &str) = ("tenant-a", "secret-of-tenant-a");
const B: (&str, &str) = ("tenant-b", "secret-of-tenant-b");
/// Tenant A's person (login, password), and B's.
const ALICE: (&str, &str) = ("alice@a.example", "alice-pw");
const BOB: (&str, &str) = ("bob-sub", "bob-pw");

/// A relying party on loopback recording what providers send it.
#[derive(Clone, Default)]
struct Rp {
    base: String,
    callbacks: Arc<Mutex<Vec<HashMap<String, String>>>>,
    logout_tokens: Arc<Mutex<Vec<String>>>,
}

impl Rp {
    async fn start() -> TestResult<Rp> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let rp = Rp {
            base: format!("http://{}", listener.local_addr()?),
            ..Rp::default()
        };
        let router = axum::Router::new()
            .route("/callback", get(callback))
            .route("/backchannel-logout/{tenant}", post(backchannel_logout))
            .with_state(rp.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(rp)
    }

    fn client(&self, (tenant, secret): (&str, &str)) -> Client {
        Client::new(tenant, secret, &format!("{}/callback", self.base))
            .backchannel_logout(&format!("{}/backchannel-logout/{tenant}", self.base))
            .post_logout_redirect(&format!("{}/signed-out", self.base))
    }

    fn callbacks(&self) -> Vec<HashMap<String, String>> {
        self.callbacks.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn logout_tokens(&self) -> Vec<String> {
        self.logout_tokens
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }
}

async fn callback(
    State(rp): State<Rp>,
    Query(query): Query<HashMap<String, String>>,
) -> &'static str {
    if let Ok(mut callbacks) = rp.callbacks.lock() {
        callbacks.push(query);
    }
    "signed in"
}

async fn backchannel_logout(
    State(rp): State<Rp>,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    match (form.get("logout_token"), rp.logout_tokens.lock()) {
        (Some(token), Ok(mut tokens)) => {
            tokens.push(token.clone());
            StatusCode::OK
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Two providers: tenant A's under a path, tenant B's at the root of its
/// port; each knows one client (the RP) and its own person.
async fn two_providers(rp: &Rp) -> TestResult<Option<(OidcProvider, OidcProvider)>> {
    let a = ProviderConfig {
        issuer_path: "/realms/tenant-a".into(),
        clients: vec![rp.client(A)],
        accounts: vec![Account::new("alice-sub", "alice@a.example", "alice-pw")],
    };
    let b = ProviderConfig {
        issuer_path: String::new(),
        clients: vec![rp.client(B)],
        accounts: vec![Account::new("bob-sub", "bob@b.example", "bob-pw")],
    };
    let Some(a) = OidcProvider::start(a).await? else {
        return Ok(None);
    };
    let Some(b) = OidcProvider::start(b).await? else {
        return Ok(None);
    };
    Ok(Some((a, b)))
}

fn random() -> String {
    let bytes: [u8; 32] = rand::thread_rng().r#gen();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A code flow of `client` (id, secret) back to the RP: its secrets
/// (PKCE verifier, state, nonce).
struct Flow {
    client: (&'static str, &'static str),
    redirect_uri: String,
    verifier: String,
    state: String,
    nonce: String,
}

impl Flow {
    fn new(rp: &Rp, client: (&'static str, &'static str)) -> Flow {
        Flow {
            client,
            redirect_uri: format!("{}/callback", rp.base),
            verifier: random(),
            state: random(),
            nonce: random(),
        }
    }

    /// The authorization URL at `idp`, with a PKCE challenge unless `pkce`
    /// is false.
    async fn authorize_url(&self, idp: &OidcProvider, pkce: bool) -> TestResult<String> {
        let discovery = idp.discovery().await?;
        let endpoint = discovery["authorization_endpoint"]
            .as_str()
            .ok_or("no authorization_endpoint")?;
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(self.verifier.as_bytes()));
        let mut params = vec![
            ("client_id", self.client.0.to_string()),
            ("response_type", "code".into()),
            ("scope", "openid email".into()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("state", self.state.clone()),
            ("nonce", self.nonce.clone()),
        ];
        if pkce {
            params.push(("code_challenge", challenge));
            params.push(("code_challenge_method", "S256".into()));
        }
        Ok(Url::parse_with_params(endpoint, &params)?.to_string())
    }

    /// The code exchanged at the token endpoint; the ID token.
    async fn redeem(&self, idp: &OidcProvider, code: &str) -> TestResult<String> {
        let discovery = idp.discovery().await?;
        let endpoint = discovery["token_endpoint"]
            .as_str()
            .ok_or("no token_endpoint")?;
        let response = reqwest::Client::new()
            .post(endpoint)
            .basic_auth(self.client.0, Some(self.client.1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", &self.verifier),
            ])
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status != StatusCode::OK {
            return Err(format!("token endpoint answered {status}: {body}").into());
        }
        Ok(body["id_token"]
            .as_str()
            .ok_or_else(|| format!("no id_token in {body}"))?
            .to_string())
    }
}

/// `token`'s claims, its signature checked against `idp`'s JWKS (by
/// `kid`), and its issuer and audience; the `kid` too.
async fn verify(idp: &OidcProvider, token: &str, audience: &str) -> TestResult<(String, Value)> {
    let kid = jsonwebtoken::decode_header(token)?
        .kid
        .ok_or("no kid in the header")?;
    let jwks: JwkSet = serde_json::from_value(idp.jwks().await?)?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[idp.issuer.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)?;
    Ok((kid, data.claims))
}

/// A full sign-in of `login` at `idp` for `client`: the verified ID
/// token's `kid` and claims, and the token.
async fn sign_in(
    idp: &OidcProvider,
    rp: &Rp,
    client: (&'static str, &'static str),
    (login, password): (&str, &str),
) -> TestResult<(String, Value, String)> {
    let flow = Flow::new(rp, client);
    let browser = OidcProvider::browser()?;
    let start = flow.authorize_url(idp, true).await?;
    let landing = idp.login_to_rp(&browser, &start, login, password).await?;
    assert_eq!(landing.status, StatusCode::OK, "{landing:?}");
    assert_eq!(landing.body, "signed in");
    let sign_in = landing.sign_in;
    assert_eq!(sign_in.state.as_deref(), Some(flow.state.as_str()));
    assert_eq!(sign_in.iss.as_deref(), Some(idp.issuer.as_str()));
    let code = sign_in.code.ok_or("no code on the callback")?;
    let token = flow.redeem(idp, &code).await?;
    let (kid, claims) = verify(idp, &token, client.0).await?;
    assert_eq!(claims["nonce"], flow.nonce.as_str());
    Ok((kid, claims, token))
}

#[tokio::test]
async fn two_providers_publish_discovery_and_sign_in_with_pkce() -> TestResult {
    let rp = Rp::start().await?;
    let Some((a, b)) = two_providers(&rp).await? else {
        return Ok(());
    };
    assert!(a.issuer.ends_with("/realms/tenant-a"), "{}", a.issuer);
    assert_ne!(a.issuer, b.issuer);
    for idp in [&a, &b] {
        let discovery = idp.discovery().await?;
        let at = |path: &str| format!("{}{path}", idp.issuer);
        assert_eq!(discovery["issuer"], idp.issuer.as_str());
        assert_eq!(discovery["jwks_uri"], at("/jwks").as_str());
        assert_eq!(
            discovery["end_session_endpoint"],
            at("/session/end").as_str()
        );
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);
        assert_eq!(
            discovery["code_challenge_methods_supported"],
            json!(["S256"])
        );
        let algs = &discovery["id_token_signing_alg_values_supported"];
        assert!(
            algs.as_array()
                .is_some_and(|algs| algs.contains(&json!("RS256")))
        );
    }

    let (_, claims, token) = sign_in(&a, &rp, A, ALICE).await?;
    assert_eq!(claims["sub"], "alice-sub");
    assert_eq!(claims["email"], "alice@a.example");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(
        claims["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "{claims}"
    );
    assert!(claims["auth_time"].is_i64(), "{claims}");
    let callbacks = rp.callbacks();
    assert_eq!(callbacks.len(), 1);
    assert!(callbacks[0].contains_key("code"), "{callbacks:?}");
    // Tenant B's keys do not vouch for tenant A's token.
    assert!(verify(&b, &token, A.0).await.is_err());

    // B signs its own person in, by `sub` this time.
    let (_, claims, _) = sign_in(&b, &rp, B, BOB).await?;
    assert_eq!(claims["sub"], "bob-sub");
    assert_eq!(claims["iss"], b.issuer.as_str());

    // A wrong password is refused on the form; A does not know Bob.
    let flow = Flow::new(&rp, A);
    let start = flow.authorize_url(&a, true).await?;
    let refused = a
        .login(&OidcProvider::browser()?, &start, ALICE.0, "nope")
        .await;
    assert!(refused.is_err_and(|e| e.to_string().contains("refused")));
    let refused = a
        .login(&OidcProvider::browser()?, &start, BOB.0, BOB.1)
        .await;
    assert!(refused.is_err());

    // Without a PKCE challenge the provider sends the browser back with an
    // error, before any login form.
    let start = flow.authorize_url(&a, false).await?;
    let back = a
        .login(&OidcProvider::browser()?, &start, ALICE.0, ALICE.1)
        .await?;
    assert_eq!(back.error.as_deref(), Some("invalid_request"), "{back:?}");
    assert!(back.code.is_none());
    assert!(back.callback.starts_with(&format!("{}/callback?", rp.base)));

    // A code is good only with its verifier, and only once.
    let flow = Flow::new(&rp, A);
    let start = flow.authorize_url(&a, true).await?;
    let back = a
        .login(&OidcProvider::browser()?, &start, ALICE.0, ALICE.1)
        .await?;
    let code = back.code.ok_or("no code")?;
    assert!(Flow::new(&rp, A).redeem(&a, &code).await.is_err());
    let flow = Flow::new(&rp, A);
    let start = flow.authorize_url(&a, true).await?;
    let back = a
        .login(&OidcProvider::browser()?, &start, ALICE.0, ALICE.1)
        .await?;
    let code = back.code.ok_or("no code")?;
    flow.redeem(&a, &code).await?;
    assert!(flow.redeem(&a, &code).await.is_err());
    Ok(())
}

#[tokio::test]
async fn key_rotation_puts_the_new_key_first() -> TestResult {
    let rp = Rp::start().await?;
    let Some((a, _b)) = two_providers(&rp).await? else {
        return Ok(());
    };
    let kids = |jwks: Value| -> Vec<String> {
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        keys.iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_string))
            .collect()
    };
    let before = kids(a.jwks().await?);
    assert_eq!(before.len(), 1, "{before:?}");
    let (kid, _, _) = sign_in(&a, &rp, A, ALICE).await?;
    assert_eq!(kid, before[0]);

    let new = a.rotate_keys(false).await?;
    assert_eq!(kids(a.jwks().await?), vec![new.clone(), before[0].clone()]);
    let (kid, _, _) = sign_in(&a, &rp, A, ALICE).await?;
    assert_eq!(kid, new, "new ID tokens are signed with the new key");

    let newest = a.rotate_keys(true).await?;
    assert_eq!(kids(a.jwks().await?), vec![newest.clone()]);
    let (kid, _, _) = sign_in(&a, &rp, A, ALICE).await?;
    assert_eq!(kid, newest);
    Ok(())
}

#[tokio::test]
async fn backchannel_logouts_reach_the_relying_party() -> TestResult {
    let rp = Rp::start().await?;
    let Some((a, _b)) = two_providers(&rp).await? else {
        return Ok(());
    };
    let (_, claims, _) = sign_in(&a, &rp, A, ALICE).await?;
    let sid = claims["sid"].as_str().ok_or("no sid")?;

    // Asked for through the test endpoint.
    a.backchannel_logout(A.0, "alice-sub", sid).await?;
    let tokens = rp.logout_tokens();
    assert_eq!(tokens.len(), 1);
    let (_, logout) = verify(&a, &tokens[0], A.0).await?;
    assert_eq!(logout["sub"], "alice-sub");
    assert_eq!(logout["sid"], sid);
    assert!(logout["jti"].is_string(), "{logout}");
    let event = "http://schemas.openid.net/event/backchannel-logout";
    assert!(logout["events"][event].is_object(), "{logout}");
    assert!(logout.get("nonce").is_none(), "{logout}");
    let unknown = a
        .try_backchannel_logout("nobody", "alice-sub", Some(sid))
        .await?;
    assert_eq!(unknown["ok"], false);

    // Caused by an RP-initiated logout: the browser that signed in signs
    // out at the provider, which tells the RP and sends the browser back.
    let flow = Flow::new(&rp, A);
    let browser = OidcProvider::browser()?;
    let start = flow.authorize_url(&a, true).await?;
    let back = a.login(&browser, &start, ALICE.0, ALICE.1).await?;
    let id_token = flow.redeem(&a, &back.code.ok_or("no code")?).await?;
    let (_, claims) = verify(&a, &id_token, A.0).await?;
    let sid_2 = claims["sid"].as_str().ok_or("no sid")?;
    // The first sign-in was another browser's session.
    assert_ne!(sid_2, sid);
    let discovery = a.discovery().await?;
    let end_session = discovery["end_session_endpoint"]
        .as_str()
        .ok_or("no end_session_endpoint")?;
    let signed_out = format!("{}/signed-out", rp.base);
    let params = [
        ("id_token_hint", id_token.as_str()),
        ("post_logout_redirect_uri", signed_out.as_str()),
        ("state", "bye"),
    ];
    let url = Url::parse_with_params(end_session, params)?;
    let landed = a.logout(&browser, url.as_str()).await?;
    assert_eq!(landed, Some(format!("{signed_out}?state=bye")));
    let tokens = rp.logout_tokens();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let (_, logout) = verify(&a, &tokens[1], A.0).await?;
    assert_eq!(logout["sid"], sid_2);
    Ok(())
}

fn resolver(server: SocketAddr, tcp: bool) -> TestResult<Resolver<TokioRuntimeProvider>> {
    let mut name_server = if tcp {
        NameServerConfig::tcp(server.ip())
    } else {
        NameServerConfig::udp(server.ip())
    };
    for connection in &mut name_server.connections {
        connection.port = server.port();
    }
    let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
    Ok(Resolver::builder_with_config(config, TokioRuntimeProvider::default()).build()?)
}

async fn txt(resolver: &Resolver<TokioRuntimeProvider>, name: &str) -> TestResult<Vec<String>> {
    let lookup = resolver.txt_lookup(name).await?;
    Ok(lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

#[tokio::test]
async fn the_dns_server_answers_txt_queries() -> TestResult {
    let dns = DnsServer::start().await?;
    let name = "_wrnexus-challenge.acme.example";
    let long = "x".repeat(300);
    dns.set_txt(name, &["wrnexus-domain-verification=abc123", &long]);
    for tcp in [false, true] {
        let resolver = resolver(dns.addr, tcp)?;
        let mut values = txt(&resolver, &format!("{name}.")).await?;
        values.sort();
        assert_eq!(
            values,
            vec![
                "wrnexus-domain-verification=abc123".to_string(),
                long.clone()
            ]
        );
        // Names match without case.
        let upper = txt(&resolver, "_WRNEXUS-CHALLENGE.Acme.Example.").await?;
        assert_eq!(upper.len(), 2);
    }
    assert!(dns.queries(name) >= 4, "{}", dns.queries(name));

    let unknown = resolver(dns.addr, false)?
        .txt_lookup("nothing.acme.example.")
        .await;
    assert!(unknown.is_err_and(|e| e.is_nx_domain()));
    dns.clear(name);
    let gone = resolver(dns.addr, false)?
        .txt_lookup(format!("{name}."))
        .await;
    assert!(gone.is_err_and(|e| e.is_nx_domain()));
    Ok(())
}
