//! OpenTelemetry tracing end to end: the gateway and the control plane
//! export their spans over OTLP/HTTP to a receiver decoding them with the
//! official protobuf definitions, and an app behind the gateway exports its
//! own. One request is one trace across all three, linked span to span;
//! refusals name their trace; sampling follows the trusted proxy's parent;
//! without a `[telemetry]` endpoint nothing is exported, whatever `OTEL_*`
//! variables say. Control plane on Postgres and Redis.

mod telemetry_support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::header::ACCEPT;
use reqwest::{Client, Method, StatusCode};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use telemetry_support::{
    CONTROL_PLANE, GATEWAY, attr_is, descends, expect, forget_in_redis, gateway_child,
    gateway_server, header, one, reported, services_up, telemetry_env, traced_app, traced_stack,
};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{self, User, http, json_body, sign_up};
use wrnexus_e2e::otlp::{self, ReceivedSpan, Receiver, listing, traceparent_parts};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::Stack;

/// The trusted proxy's address: the same loopback, another source address.
const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The routes, and a `[telemetry]` section exporting to `receiver` with
/// `ratio`.
fn config(app: u16, receiver: &Receiver, ratio: &str) -> String {
    format!(
        r#"trusted_proxies = ["{PROXY}"]

[[gateway.routes]]
name = "app"
path_prefix = "/app"
upstream = "http://127.0.0.1:{app}"

[telemetry]
otlp_endpoint = "{}"
sample_ratio = {ratio}
export_interval_ms = "200ms"
"#,
        receiver.url
    )
}

#[tokio::test]
async fn one_trace_spans_gateway_control_plane_and_app() -> TestResult {
    let Some((database_url, mut redis)) = services_up().await? else {
        return Ok(());
    };
    let receiver = Receiver::start().await?;
    let (_app, port) = apps::serve(App::new("app"), traced_app(&receiver)).await?;
    let stack = traced_stack(
        &database_url,
        &services::redis_url(),
        &config(port, &receiver, "1.0"),
        &telemetry_env(&receiver, "1.0"),
    )
    .await?;
    let result = traced(&stack, &receiver, &mut redis).await;
    reported(&stack, result)
}

async fn traced(
    stack: &Stack,
    receiver: &Receiver,
    redis: &mut redis::aio::MultiplexedConnection,
) -> TestResult {
    let gw = stack.gateway.as_str();
    let c = http();
    let user = sign_up(&c, gw, &client::email("otel")).await?;
    forget_in_redis(redis, &user).await?;

    // Allowed, the decision data fetched from the control plane.
    let response = user
        .req(&c, Method::GET, &format!("{gw}/app/items"))
        .send()
        .await?;
    let trace_id = header(&response, "x-trace-id").ok_or("no x-trace-id")?;
    let request_id_header = header(&response, "x-request-id");
    let (status, echo) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let request_id = echo["headers"]["x-request-id"]
        .as_str()
        .ok_or("the app got no x-request-id")?
        .to_string();
    if let Some(header) = request_id_header {
        assert_eq!(header, request_id, "{echo}");
    }
    let passed = echo["headers"]["traceparent"]
        .as_str()
        .ok_or("the app got no traceparent")?;
    let (passed_trace, passed_parent, flags) = traceparent_parts(passed)?;
    assert_eq!(passed_trace, trace_id, "{echo}");
    assert_eq!(flags, "01", "{echo}");
    let app_span_id = echo["app_span_id"]
        .as_str()
        .ok_or("the app exported nothing")?;

    let check = |spans: &[ReceivedSpan]| -> Result<(), String> {
        let trace: Vec<ReceivedSpan> = spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let spans = trace.as_slice();
        let server = gateway_server(spans, &trace_id)?;
        if !server.parent_span_id.is_empty() {
            return Err(format!("a client's request made a child span: {server}"));
        }
        if server.scope != GATEWAY || server.name != "GET app" {
            return Err(format!("gateway server span: {server}"));
        }
        attr_is(server, "wrnexus.request_id", &request_id)?;
        attr_is(server, "http.response.status_code", "200")?;
        attr_is(server, "http.request.method", "GET")?;
        attr_is(server, "url.path", "/app/items")?;
        attr_is(server, "wrnexus.outcome", "allow")?;
        let admit = gateway_child(spans, server, "admit")?;
        gateway_child(spans, admit, "credential")?;
        let resolve = gateway_child(spans, admit, "resolve")?;
        attr_is(resolve, "wrnexus.cache", "miss")?;
        attr_is(resolve, "wrnexus.cache.layer", "control_plane")?;
        let decide = gateway_child(spans, admit, "decide")?;
        attr_is(decide, "wrnexus.decision", "allow")?;
        if decide
            .attr("wrnexus.policies")
            .unwrap_or_default()
            .is_empty()
        {
            return Err(format!("no determining policies: {decide}"));
        }
        let upstream = gateway_child(spans, server, "upstream")?;
        if upstream.kind != SpanKind::Client {
            return Err(format!("upstream is not a CLIENT span: {upstream}"));
        }
        if passed_parent != upstream.span_id {
            return Err(format!(
                "the app's traceparent {passed} names no upstream span"
            ));
        }
        // The control plane answered the admission's question, in the trace.
        let fetch = one(spans, "control plane SERVER span under admit", |s| {
            s.service == CONTROL_PLANE
                && s.kind == SpanKind::Server
                && s.parent_span_id == admit.span_id
        })?;
        if fetch.scope != CONTROL_PLANE
            || !fetch.name.starts_with("GET ")
            || !fetch
                .attr("http.route")
                .is_some_and(|r| r.ends_with("/internal/decision-data"))
        {
            return Err(format!("decision-data span: {fetch}"));
        }
        attr_is(fetch, "http.response.status_code", "200")?;
        let stores: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| s.name.starts_with("store.") && descends(spans, s, &fetch.span_id))
            .collect();
        if stores.is_empty() {
            return Err("no store.* span under the decision-data span".into());
        }
        if let Some(odd) = stores
            .iter()
            .find(|s| s.service != CONTROL_PLANE || s.scope != CONTROL_PLANE)
        {
            return Err(format!("store span of another service or scope: {odd}"));
        }
        // The app's own span hangs off the gateway's upstream span.
        let app = one(spans, "app.handle", |s| s.name == "app.handle")?;
        if app.service != "test-app"
            || app.parent_span_id != upstream.span_id
            || app.span_id != app_span_id
        {
            return Err(format!("app span: {app}"));
        }
        Ok(())
    };
    expect(receiver, check).await?;

    refused(gw, receiver).await?;
    api_call(gw, receiver, &user).await
}

/// A refusal's trace has the gateway's span with the refusal's code.
async fn refused(gw: &str, receiver: &Receiver) -> TestResult {
    let response = http()
        .get(format!("{gw}/app/items"))
        .header(ACCEPT, "application/json")
        .send()
        .await?;
    let header_trace = header(&response, "x-trace-id").ok_or("no x-trace-id")?;
    let (status, problem) = json_body(response).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem["trace_id"], header_trace.as_str(), "{problem}");
    let code = problem["code"].as_str().ok_or("no code")?.to_string();
    let request_id = problem["request_id"]
        .as_str()
        .ok_or("no request id")?
        .to_string();
    expect(receiver, |spans| {
        let server = gateway_server(spans, &header_trace)?;
        attr_is(server, "wrnexus.cause", &code)?;
        attr_is(server, "wrnexus.request_id", &request_id)?;
        attr_is(server, "http.response.status_code", "401")
    })
    .await
}

/// A call to the control plane's API through the gateway: its server span,
/// its upstream span, and the control plane's span under that.
async fn api_call(gw: &str, receiver: &Receiver, user: &User) -> TestResult {
    let response = user
        .req(
            &http(),
            Method::GET,
            &format!("{gw}/.wrnexus/api/v1/workspaces"),
        )
        .send()
        .await?;
    let trace_id = header(&response, "x-trace-id").ok_or("no x-trace-id")?;
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    expect(receiver, |spans| {
        let server = gateway_server(spans, &trace_id)?;
        attr_is(server, "wrnexus.outcome", "control_plane")?;
        attr_is(server, "http.response.status_code", "200")?;
        let upstream = gateway_child(spans, server, "upstream")?;
        if upstream.kind != SpanKind::Client {
            return Err(format!("upstream is not a CLIENT span: {upstream}"));
        }
        let handled = one(spans, "control plane SERVER span under upstream", |s| {
            s.service == CONTROL_PLANE
                && s.kind == SpanKind::Server
                && s.parent_span_id == upstream.span_id
        })?;
        if handled.trace_id != trace_id
            || !handled
                .attr("http.route")
                .is_some_and(|r| r.ends_with("/workspaces"))
        {
            return Err(format!("control plane span: {handled}"));
        }
        attr_is(handled, "http.response.status_code", "200")
    })
    .await
}

#[tokio::test]
async fn sampling_follows_the_trusted_proxy() -> TestResult {
    let Some((database_url, _redis)) = services_up().await? else {
        return Ok(());
    };
    let receiver = Receiver::start().await?;
    let (_app, port) = apps::serve(App::new("app"), traced_app(&receiver)).await?;
    let stack = traced_stack(
        &database_url,
        &services::redis_url(),
        &config(port, &receiver, "0.0"),
        &telemetry_env(&receiver, "0.0"),
    )
    .await?;
    let result = sampled(&stack, &receiver).await;
    reported(&stack, result)
}

async fn sampled(stack: &Stack, receiver: &Receiver) -> TestResult {
    let gw = stack.gateway.as_str();
    let c = http();
    let proxy = Client::builder()
        .local_address(PROXY)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let user = sign_up(&c, gw, &client::email("unsampled")).await?;
    let url = format!("{gw}/app/items");

    // A client's own request: not sampled, and the app is told so.
    let response = user.req(&c, Method::GET, &url).send().await?;
    let own_trace = header(&response, "x-trace-id").ok_or("no x-trace-id")?;
    let (status, echo) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let passed = echo["headers"]["traceparent"].as_str().unwrap_or_default();
    let (trace, _, flags) = traceparent_parts(passed)?;
    assert_eq!(trace, own_trace, "{echo}");
    assert_eq!(flags, "00", "{echo}");

    // A trusted proxy's sampled trace is exported, under its trace id,
    // the gateway's span the child of the proxy's.
    let proxy_trace = otlp::hex(&rand::random::<[u8; 16]>());
    let proxy_span = otlp::hex(&rand::random::<[u8; 8]>());
    let response = user
        .req(&proxy, Method::GET, &url)
        .header("traceparent", format!("00-{proxy_trace}-{proxy_span}-01"))
        .send()
        .await?;
    let (status, echo) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let passed = echo["headers"]["traceparent"].as_str().unwrap_or_default();
    let (trace, parent, flags) = traceparent_parts(passed)?;
    assert_eq!(
        (trace.as_str(), flags.as_str()),
        (proxy_trace.as_str(), "01")
    );
    expect(receiver, |spans| {
        let server = gateway_server(spans, &proxy_trace)?;
        if server.parent_span_id != proxy_span {
            return Err(format!("not the proxy's span's child: {server}"));
        }
        let upstream = gateway_child(spans, server, "upstream")?;
        if upstream.span_id != parent {
            return Err(format!("the app's parent is not {upstream}"));
        }
        one(spans, "app.handle", |s| {
            s.name == "app.handle" && s.trace_id == proxy_trace
        })
        .map(|_| ())
    })
    .await?;

    // Give a stray export of the unsampled request time to show.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let spans = receiver.spans();
    let unsampled: Vec<ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == own_trace)
        .cloned()
        .collect();
    assert!(
        unsampled.is_empty(),
        "an unsampled trace was exported:\n{}",
        listing(&unsampled)
    );
    let others: Vec<ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id != proxy_trace)
        .cloned()
        .collect();
    assert!(
        others.is_empty(),
        "at ratio 0 only the proxy's sampled trace is exported:\n{}",
        listing(&others)
    );
    Ok(())
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_exported_whatever_otel_variables_say() -> TestResult {
    let Some((database_url, _redis)) = services_up().await? else {
        return Ok(());
    };
    let receiver = Receiver::start().await?;
    let traces = format!("{}/v1/traces", receiver.url);
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let stack = Stack::split_with_env(&database_url, &services::redis_url(), &otel, &otel).await?;
    let result = untraced(&stack, &receiver).await;
    reported(&stack, result)
}

async fn untraced(stack: &Stack, receiver: &Receiver) -> TestResult {
    let gw = stack.gateway.as_str();
    let c = http();
    let user = sign_up(&c, gw, &client::email("untraced")).await?;
    let response = user.req(&c, Method::GET, &format!("{gw}/")).send().await?;
    assert!(response.status().is_success(), "{}", response.status());
    let response = user
        .req(&c, Method::GET, &format!("{gw}/.wrnexus/api/v1/workspaces"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    // And a refusal, or whatever the example config answers a stranger.
    c.get(format!("{gw}/"))
        .header(ACCEPT, "application/json")
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.requests(),
        0,
        "exported with tracing off:\n{}",
        listing(&receiver.spans())
    );
    Ok(())
}
