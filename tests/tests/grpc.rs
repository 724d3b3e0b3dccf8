//! gRPC through the gateway: a client speaking HTTP/2 over TLS, a route
//! speaking h2c to a gRPC-shaped upstream (`protocol = "h2"`). Calls are
//! decided like any request — each method mapped to a Cedar action, one
//! to `read` a viewer may call, one to `admin` refused to a viewer and
//! never reaching the service — and what passes
//! keeps its streamed body and its trailers (`grpc-status`), with the
//! verified identity and without the client's forged copies.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::certs::ServerCerts;
use wrnexus_e2e::client::{User, create_workspace, email, join, sign_up};
use wrnexus_e2e::h2_client::{self, H2Response, https_client};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

type Reply = http::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

/// One gRPC call answered: the request's message echoed back, what the
/// service was told in response headers, `grpc-status: 0` in trailers.
async fn call(
    request: http::Request<Incoming>,
    calls: Arc<AtomicUsize>,
) -> Result<Reply, hyper::Error> {
    calls.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let message = body.collect().await?.to_bytes();
    let seen = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    trailers.insert("grpc-message", http::HeaderValue::from_static("done"));
    let frames = futures_util::stream::iter([
        Ok::<_, Infallible>(Frame::data(message)),
        Ok(Frame::trailers(trailers)),
    ]);
    let body = http_body_util::StreamBody::new(frames).boxed();
    let mut response = http::Response::new(body);
    let h = response.headers_mut();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("application/grpc"),
    );
    for (name, value) in [
        ("x-seen-user", seen("x-user-id")),
        ("x-seen-forged", seen("x_workspace_role")),
        ("x-seen-role", seen("x-workspace-role")),
        ("x-seen-path", parts.uri.path().to_string()),
        ("x-seen-version", format!("{:?}", parts.version)),
        ("x-seen-te", seen("te")),
    ] {
        h.insert(
            name,
            http::HeaderValue::from_str(&value).unwrap_or(http::HeaderValue::from_static("?")),
        );
    }
    Ok(response)
}

/// An h2c (prior knowledge) gRPC-shaped service; its port and call count.
async fn start_service() -> TestResult<(u16, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let calls = counted.clone();
            tokio::spawn(async move {
                let service = service_fn(move |r| call(r, calls.clone()));
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((port, calls))
}

/// A length-prefixed gRPC message (uncompressed).
fn grpc_message(payload: &[u8]) -> Bytes {
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_be_bytes());
    framed.extend_from_slice(payload);
    Bytes::from(framed)
}

async fn grpc_call(gw: &str, ca: &str, user: &User, method: &str) -> TestResult<H2Response> {
    let addr = gw.trim_start_matches("https://");
    let mut conn = h2_client::connect(addr, "localhost", ca).await?;
    let request = http::Request::post(format!("https://{addr}/demo.Greeter/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("cookie", user.cookie.as_str())
        .header("x-user-id", "forged")
        .header("x_workspace_role", "owner")
        .body(())?;
    h2_client::exchange(&mut conn, request, Some(grpc_message(b"hello"))).await
}

#[tokio::test]
async fn grpc_passes_through_decided_with_trailers_kept() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let certs = ServerCerts::new("wrnexus grpc test CA")?;
    let files = certs.write(dir.path())?;
    let (port, calls) = start_service().await?;
    let extra = format!(
        r#"
[[gateway.routes]]
name = "greeter"
path_prefix = "/demo.Greeter"
upstream = "http://127.0.0.1:{port}"
protocol = "h2"
# Every gRPC call is a POST (by default `write`): each method gets its action.
actions = [
  {{ path_prefix = "/demo.Greeter/SayHello", action = "read" }},
  {{ path_prefix = "/demo.Greeter/Delete", action = "admin" }},
]

[gateway.tls]
cert_file = "{}"
key_file = "{}"
"#,
        files.cert.display(),
        files.key.display()
    );
    let stack = Stack::routed_tls(&database_url, &services::redis_url(), &extra, &certs.ca).await?;
    let result = flow(&stack, &certs.ca, &calls).await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    result
}

async fn flow(stack: &Stack, ca: &str, calls: &AtomicUsize) -> TestResult {
    let gw = stack.gateway.as_str();
    let c = https_client(ca)?.build()?;
    let owner = sign_up(&c, gw, &email("grpc-owner")).await?;
    let mut viewer = sign_up(&c, gw, &email("grpc-viewer")).await?;
    let team = create_workspace(&c, gw, &owner, "gRPC team").await?;
    join(&c, gw, &owner, &mut viewer, &team, "viewer").await?;

    // A call passes: message, trailers and the verified identity.
    let reply = grpc_call(gw, ca, &viewer, "SayHello").await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, grpc_message(b"hello"));
    let trailers = reply.trailers.as_ref().ok_or("no trailers")?;
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "done");
    assert_eq!(reply.headers["x-seen-user"], viewer.id.as_str());
    assert_eq!(reply.headers["x-seen-forged"], "-");
    assert_eq!(reply.headers["x-seen-role"], "viewer");
    assert_eq!(reply.headers["x-seen-path"], "/demo.Greeter/SayHello");
    assert_eq!(reply.headers["x-seen-version"], "HTTP/2.0");
    assert_eq!(reply.headers["x-seen-te"], "trailers");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A method mapped to `admin`: the viewer is refused, the service untouched.
    let refused = grpc_call(gw, ca, &viewer, "Delete").await?;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("forbidden"), "{}", refused.text());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The owner may.
    let mut owner = owner;
    wrnexus_e2e::client::switch(&c, gw, &mut owner, &team).await?;
    let allowed = grpc_call(gw, ca, &owner, "Delete").await?;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    Ok(())
}
