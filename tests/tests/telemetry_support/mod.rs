//! Helpers of the tracing suite: a control plane and gateway exporting to
//! a receiver, an app that exports its own span, and finding spans.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::time::Duration;
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::User;
use wrnexus_e2e::otlp::{self, ReceivedSpan, Receiver, listing, traceparent_parts};
use wrnexus_e2e::process::{Proc, free_port, wait_ready, wait_ready_with};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::{ASSERTION_KEY, GATEWAY_TOKEN, OPERATOR_TOKEN, Stack, example_config};
use wrnexus_e2e::tokens::claims_of;

pub const GATEWAY: &str = "wrnexus-gateway";
pub const CONTROL_PLANE: &str = "wrnexus-control-plane";
/// How long spans may take to reach the receiver (batches every 200 ms).
const ARRIVAL: Duration = Duration::from_secs(15);
const STARTUP: Duration = Duration::from_secs(60);

/// An app echoing what it received (as [`apps::echo`]) that, when called in
/// a sampled trace, first exports a span of its own under the `traceparent`
/// it got; its span id in `app_span_id`.
pub fn traced_app(receiver: &Receiver) -> Router<App> {
    let url = receiver.url.clone();
    Router::new().route(
        "/{*path}",
        any(move |state: State<App>, req: Request| {
            let url = url.clone();
            async move { traced_echo(&url, state, req).await }
        }),
    )
}

async fn traced_echo(receiver_url: &str, state: State<App>, req: Request) -> Response {
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut exported = Value::Null;
    if let Some(tp) = traceparent
        && traceparent_parts(&tp).is_ok_and(|(_, _, flags)| flags == "01")
    {
        match otlp::export_app_span(receiver_url, &tp).await {
            Ok(span_id) => exported = Value::String(span_id),
            Err(e) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
            }
        }
    }
    let axum::Json(mut echo) = apps::echo(state, req).await;
    echo["app_span_id"] = exported;
    axum::Json(echo).into_response()
}

/// A control plane exporting as `telemetry_env` says, and a gateway whose
/// config file ends with `gateway_extra` (as [`Stack::routed`]).
pub async fn traced_stack(
    database_url: &str,
    redis_url: &str,
    gateway_extra: &str,
    telemetry_env: &[(&str, &str)],
) -> TestResult<Stack> {
    let dir = tempfile::tempdir()?;
    let (cp, gw, admin) = (free_port()?, free_port()?, free_port()?);
    let cp_listen = format!("127.0.0.1:{cp}");
    let example = example_config().display().to_string();
    let mut env = vec![
        ("WRNEXUS_CONTROL_PLANE__LISTEN", cp_listen.as_str()),
        ("WRNEXUS_CONTROL_PLANE__DATABASE_URL", database_url),
        ("WRNEXUS_CONTROL_PLANE__MIGRATE_DATABASE_URL", database_url),
        ("WRNEXUS_CONTROL_PLANE__REDIS_URL", redis_url),
        ("WRNEXUS_OPERATOR_TOKEN", OPERATOR_TOKEN),
        ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
        ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
        ("WRNEXUS_CONTROL_PLANE__ALLOW_RLS_BYPASS", "true"),
    ];
    env.extend_from_slice(telemetry_env);
    let args = ["control-plane", "--config", example.as_str()];
    let mut control = Proc::spawn("control-plane", dir.path(), &args, &env)?;
    wait_ready(
        &format!("http://{cp_listen}/v1/health"),
        &mut control,
        STARTUP,
    )
    .await?;
    let listen = format!("127.0.0.1:{gw}");
    let admin_listen = format!("127.0.0.1:{admin}");
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "[gateway]\nlisten = \"{listen}\"\nadmin_listen = \"{admin_listen}\"\n\
             control_plane_url = \"http://{cp_listen}\"\nredis_url = \"{redis_url}\"\n\
             {gateway_extra}\n"
        ),
    )?;
    let file_arg = file.display().to_string();
    let mut gateway = Proc::spawn(
        "gateway",
        dir.path(),
        &["gateway", "--config", &file_arg],
        &[
            ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
            ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
        ],
    )?;
    let admin = format!("http://{admin_listen}");
    wait_ready(&format!("{admin}/ready"), &mut gateway, STARTUP).await?;
    let base = format!("http://{listen}");
    let signin = format!("{base}/.wrnexus/signin");
    wait_ready_with(&Client::new(), &signin, &mut gateway, STARTUP).await?;
    Ok(Stack {
        gateway: base,
        admin,
        database_url: database_url.to_string(),
        control_plane: format!("http://{cp_listen}"),
        upstream: String::new(),
        gateway_env: Vec::new(),
        procs: vec![control, gateway],
        dir,
    })
}

/// The control plane's `[telemetry]` settings, as environment overrides.
pub fn telemetry_env<'a>(receiver: &'a Receiver, ratio: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("WRNEXUS_TELEMETRY__OTLP_ENDPOINT", receiver.url.as_str()),
        ("WRNEXUS_TELEMETRY__SAMPLE_RATIO", ratio),
        ("WRNEXUS_TELEMETRY__EXPORT_INTERVAL_MS", "200ms"),
    ]
}

/// Postgres and Redis, or a quiet skip (`None`) when they are missing.
pub async fn services_up() -> TestResult<Option<(String, redis::aio::MultiplexedConnection)>> {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(None);
    };
    let Some(redis) = services::redis().await? else {
        return Ok(None);
    };
    Ok(Some((database_url, redis)))
}

/// Print the stack's logs with a failure.
pub fn reported(stack: &Stack, result: TestResult) -> TestResult {
    if let Err(e) = &result {
        eprintln!("{e}\n{}", stack.logs());
    }
    result
}

pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Poll the receiver until `check` finds what it wants in the spans; on
/// timeout, `check`'s last complaint and every span received.
pub async fn expect<T>(
    receiver: &Receiver,
    check: impl Fn(&[ReceivedSpan]) -> Result<T, String>,
) -> TestResult<T> {
    match receiver
        .wait_for(|spans| check(spans).is_ok(), ARRIVAL)
        .await
    {
        Ok(spans) => Ok(check(&spans)?),
        Err(_) => {
            let spans = receiver.spans();
            let complaint = check(&spans).err().unwrap_or_default();
            Err(format!("{complaint}\nreceived:\n{}", listing(&spans)).into())
        }
    }
}

/// The one span of `spans` that `pick` accepts.
pub fn one<'a>(
    spans: &'a [ReceivedSpan],
    what: &str,
    pick: impl Fn(&ReceivedSpan) -> bool,
) -> Result<&'a ReceivedSpan, String> {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| pick(s)).collect();
    match found.as_slice() {
        [span] => Ok(span),
        [] => Err(format!("no {what}")),
        many => Err(format!("{} spans for {what}", many.len())),
    }
}

/// The gateway's spans named `name` under `parent` in `spans`.
pub fn gateway_child<'a>(
    spans: &'a [ReceivedSpan],
    parent: &ReceivedSpan,
    name: &str,
) -> Result<&'a ReceivedSpan, String> {
    one(
        spans,
        &format!("gateway {name:?} under {}", parent.name),
        |s| s.service == GATEWAY && s.name == name && s.parent_span_id == parent.span_id,
    )
}

/// The gateway's SERVER span of trace `trace_id`, once it has arrived.
pub fn gateway_server<'a>(
    spans: &'a [ReceivedSpan],
    trace_id: &str,
) -> Result<&'a ReceivedSpan, String> {
    one(spans, &format!("gateway SERVER span in {trace_id}"), |s| {
        s.trace_id == trace_id && s.service == GATEWAY && s.kind == SpanKind::Server
    })
}

/// Whether `span` descends from the span `ancestor` in `spans`.
pub fn descends(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &str) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..64 {
        if parent.is_empty() {
            return false;
        }
        if parent == ancestor {
            return true;
        }
        match spans
            .iter()
            .find(|s| s.span_id == parent && s.trace_id == span.trace_id)
        {
            Some(next) => parent = next.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

pub fn attr_is(span: &ReceivedSpan, key: &str, want: &str) -> Result<(), String> {
    match span.attr(key) {
        Some(got) if got == want => Ok(()),
        got => Err(format!("{}: {key} = {got:?}, wanted {want:?}", span.name)),
    }
}

/// Drop this user's decision data from Redis (only theirs: other suites
/// share the server), so the gateway has to ask the control plane.
pub async fn forget_in_redis(
    redis: &mut redis::aio::MultiplexedConnection,
    user: &User,
) -> TestResult {
    let claims = claims_of(user.token())?;
    let sid = claims["sid"].as_str().ok_or("no sid claim")?;
    let sub = claims["sub"].as_str().ok_or("no sub claim")?;
    let workspace = &user.workspace_id;
    let keys = [
        format!("wrnexus:{{u:{sub}}}:session:{sid}"),
        format!("wrnexus:{{u:{sub}}}:user"),
        format!("wrnexus:{{u:{sub}}}:member:{workspace}"),
        format!("wrnexus:{{w:{workspace}}}:workspace"),
    ];
    redis::cmd("DEL")
        .arg(&keys)
        .query_async::<i64>(redis)
        .await?;
    Ok(())
}
