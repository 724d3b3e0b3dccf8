//! A proxy in front of a real OpenID provider, which the provider announces
//! as its issuer: every request is forwarded with its `Host` kept, and the
//! token endpoint's ID tokens and the JWKS can be tampered with. The proxy
//! has two RSA keys of its own: one it adds to the JWKS (a token re-signed
//! with it differs from the provider's only where the claims were changed)
//! and one it never publishes.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::oidc::{OidcProvider, ProviderConfig};
use wrnexus_e2e::process::free_port;

/// What the proxy does to the next ID tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Tamper {
    /// Passed as the provider made them.
    Nothing,
    /// Re-signed with the published proxy key, claims untouched.
    Resign,
    /// Re-signed with the key the JWKS never names.
    UnpublishedKey,
    /// `aud` replaced, re-signed with the published key.
    Audience(String),
    /// `nonce` replaced, re-signed with the published key.
    Nonce(String),
    /// `exp` (and `iat`) an hour in the past, re-signed with the published key.
    Expired,
}

struct Key {
    kid: String,
    der: Vec<u8>,
    public: Value,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    tamper: Mutex<Tamper>,
    published: Key,
    unpublished: Key,
    /// The claims of every ID token the provider issued through the proxy.
    seen: Mutex<Vec<Value>>,
}

/// The proxy and the provider behind it.
pub struct IdpProxy {
    pub idp: OidcProvider,
    inner: Arc<Inner>,
}

/// Two RSA keys made by Node (present: the provider needs it): PKCS#1 DER
/// for signing, the public JWK.
fn keys() -> TestResult<(Key, Key)> {
    let script = "const c=require('crypto');const out=[];for(let i=0;i<2;i++){\
        const k=c.generateKeyPairSync('rsa',{modulusLength:2048});\
        out.push({der:k.privateKey.export({type:'pkcs1',format:'der'}).toString('base64'),\
        jwk:k.publicKey.export({format:'jwk'})});}console.log(JSON.stringify(out))";
    let out = std::process::Command::new("node")
        .args(["-e", script])
        .output()?;
    let made: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    let key = |i: usize, kid: &str| -> TestResult<Key> {
        let der = made[i]["der"].as_str().ok_or("no key from node")?;
        let mut public = made[i]["jwk"].clone();
        public["kid"] = json!(kid);
        public["use"] = json!("sig");
        public["alg"] = json!("RS256");
        Ok(Key {
            kid: kid.to_string(),
            der: STANDARD.decode(der)?,
            public,
        })
    };
    Ok((key(0, "proxy-published")?, key(1, "proxy-unpublished")?))
}

fn claims_of(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn sign(key: &Key, claims: &Value) -> Option<String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&key.der)).ok()
}

impl Inner {
    fn tampered(&self, jwt: &str) -> Option<String> {
        let mut claims = claims_of(jwt)?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(claims.clone());
        }
        let tamper = self.tamper.lock().ok()?.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        match tamper {
            Tamper::Nothing => return Some(jwt.to_string()),
            Tamper::Resign => {}
            Tamper::UnpublishedKey => return sign(&self.unpublished, &claims),
            Tamper::Audience(aud) => claims["aud"] = json!(aud),
            Tamper::Nonce(nonce) => claims["nonce"] = json!(nonce),
            Tamper::Expired => {
                claims["exp"] = json!(now - 3600);
                claims["iat"] = json!(now - 7200);
            }
        }
        sign(&self.published, &claims)
    }

    /// The provider's answer at `path`, changed where the proxy changes it.
    fn rewrite(&self, path: &str, body: Vec<u8>) -> Vec<u8> {
        let Ok(mut json) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        if path.ends_with("/token") {
            let Some(token) = json["id_token"].as_str() else {
                return body;
            };
            match self.tampered(token) {
                Some(t) => json["id_token"] = json!(t),
                None => return body,
            }
        } else if path.ends_with("/jwks") {
            match json["keys"].as_array_mut() {
                Some(keys) => keys.push(self.published.public.clone()),
                None => return body,
            }
        } else {
            return body;
        }
        serde_json::to_vec(&json).unwrap_or(body)
    }
}

const HOP: &[&str] = &[
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
];

async fn forward(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let answer = async {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let target = format!(
            "{}{}",
            inner.upstream,
            parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
        );
        let body = axum::body::to_bytes(body, usize::MAX).await?;
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
        let mut request = inner.http.request(method, target).body(body.to_vec());
        for (name, value) in &parts.headers {
            if !HOP.contains(&name.as_str()) {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let response = request.send().await?;
        let mut out = Response::builder().status(response.status().as_u16());
        for (name, value) in response.headers() {
            if !HOP.contains(&name.as_str()) {
                out = out.header(name.as_str(), HeaderValue::from_bytes(value.as_bytes())?);
            }
        }
        let bytes = response.bytes().await?.to_vec();
        let bytes = inner.rewrite(&path, bytes);
        TestResult::Ok(out.body(Body::from(bytes))?)
    }
    .await;
    answer.unwrap_or_else(|e| {
        let mut r = Response::new(Body::from(format!("proxy: {e}")));
        *r.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
        r
    })
}

impl IdpProxy {
    /// A provider with `config` behind a new proxy; `None` when the
    /// provider cannot run here (skipped loudly).
    pub async fn start(config: ProviderConfig) -> TestResult<Option<IdpProxy>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}", listener.local_addr()?);
        let port = free_port()?;
        let Some(idp) = OidcProvider::start_behind(config, port, &issuer).await? else {
            return Ok(None);
        };
        let (published, unpublished) = keys()?;
        let inner = Arc::new(Inner {
            upstream: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            tamper: Mutex::new(Tamper::Nothing),
            published,
            unpublished,
            seen: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Some(IdpProxy { idp, inner }))
    }

    pub fn tamper(&self, tamper: Tamper) {
        if let Ok(mut t) = self.inner.tamper.lock() {
            *t = tamper;
        }
    }

    /// `claims` signed (RS256) with the key the JWKS never names.
    pub fn sign_unpublished(&self, claims: &Value) -> Option<String> {
        sign(&self.inner.unpublished, claims)
    }

    /// The claims of the ID tokens issued so far (as the provider made them).
    pub fn issued(&self) -> Vec<Value> {
        self.inner
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}
