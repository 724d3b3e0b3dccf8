//! Test helpers: tokens signed the gateway's way (with the policies crate's
//! own `AssertionKey`), an app behind the SDK, and a JWKS server to rotate.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use wrnexus_policies::assertion::{
    ASSERTION_ISSUER, ASSERTION_TTL_SECS, AssertionClaims, AssertionKey, DEFAULT_ASSERTION_AUDIENCE,
};
use wrnexus_policies::model::Role;
use wrnexus_sdk::{GatewayContext, GatewayLayer, Verifier};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn new_key() -> TestResult<AssertionKey> {
    Ok(AssertionKey::generate()?.0)
}

pub fn jwks_json(keys: &[&AssertionKey]) -> TestResult<String> {
    let mut set = keys[0].jwks();
    for key in &keys[1..] {
        set.keys.extend(key.jwks().keys);
    }
    Ok(serde_json::to_string(&set)?)
}

/// The claims a gateway would sign for `user` in `workspace` as `role`.
pub fn claims(user: &str, workspace: &str, role: Role) -> AssertionClaims {
    let iat = now();
    AssertionClaims {
        iss: ASSERTION_ISSUER.into(),
        aud: DEFAULT_ASSERTION_AUDIENCE.into(),
        sub: user.into(),
        kind: "user".into(),
        wid: workspace.into(),
        role,
        pid: None,
        rid: "req-1".into(),
        iat,
        exp: iat + ASSERTION_TTL_SECS,
    }
}

/// What the app answers: the context it was given, as JSON.
pub async fn whoami(ctx: GatewayContext) -> axum::Json<Value> {
    axum::Json(json!({
        "principal": ctx.principal,
        "user_id": ctx.user_id(),
        "api_key_id": ctx.api_key_id(),
        "workspace_id": ctx.workspace_id,
        "role": ctx.role,
        "request_id": ctx.request_id,
    }))
}

/// An app whose every route is behind the layer; it counts the requests
/// that reach a handler.
pub fn layered_app(verifier: Verifier, hits: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(move |ctx: GatewayContext| {
                hits.fetch_add(1, Ordering::SeqCst);
                whoami(ctx)
            }),
        )
        .layer(GatewayLayer::new(verifier))
}

/// [`layered_app`] verifying with the fixed key set of `keys`.
pub fn static_app(keys: &[&AssertionKey], audience: &str) -> TestResult<Router> {
    let verifier = Verifier::from_jwks_json(&jwks_json(keys)?, audience)?;
    Ok(layered_app(verifier, Arc::default()))
}

/// GET `path` with the assertion `token` (if any) and extra headers; the
/// status, content type and JSON body.
pub async fn call(
    app: &Router,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> TestResult<(StatusCode, String, Value)> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(wrnexus_sdk::ASSERTION_HEADER, token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.clone().oneshot(request.body(Body::empty())?).await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, content_type, body))
}

/// Assert a refusal: status, problem+json, and its `code`.
pub fn assert_refused(
    answer: &(StatusCode, String, Value),
    status: StatusCode,
    code: &str,
) -> TestResult {
    let (got_status, content_type, body) = answer;
    assert_eq!(*got_status, status, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    Ok(())
}

/// A JWKS endpoint on 127.0.0.1:0 whose keys can be swapped and which can
/// be told to fail; it counts the requests it gets.
#[derive(Clone, Default)]
pub struct JwksServer {
    body: Arc<Mutex<String>>,
    failing: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    /// Serve `keys`; the server and its URL.
    pub async fn start(keys: &[&AssertionKey]) -> TestResult<(JwksServer, String)> {
        let server = JwksServer::default();
        server.publish(keys)?;
        let router = Router::new()
            .route("/v1/assertion-keys", get(serve_jwks))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/v1/assertion-keys", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok((server, url))
    }

    pub fn publish(&self, keys: &[&AssertionKey]) -> TestResult {
        let json = jwks_json(keys)?;
        *self.body.lock().map_err(|_| "poisoned")? = json;
        Ok(())
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(server): State<JwksServer>) -> Response {
    server.hits.fetch_add(1, Ordering::SeqCst);
    if server.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = server.body.lock().map(|b| b.clone()).unwrap_or_default();
    ([("content-type", "application/json")], body).into_response()
}
