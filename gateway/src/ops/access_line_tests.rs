//! The access log line: flat, complete, and free of secrets.

use super::*;
use crate::ops::access_notes::Credential;
use serde_json::Value;

const SECRETS: [&str; 4] = [
    "s3cr3t-session-token",
    "wrn_k1d_s3cr3t-api-key",
    "q-s3cr3t-token",
    "Basic dXNlcjpwYXNz",
];

fn request() -> RequestHeader {
    let mut req =
        RequestHeader::build("GET", b"/w/ws1/reports?token=q-s3cr3t-token&x=1", None).unwrap();
    req.insert_header("cookie", "wrnexus_session=s3cr3t-session-token; theme=dark")
        .unwrap();
    req.insert_header("authorization", "Bearer wrn_k1d_s3cr3t-api-key")
        .unwrap();
    req.insert_header("proxy-authorization", "Basic dXNlcjpwYXNz")
        .unwrap();
    req.insert_header("user-agent", format!("curl/8 {}", "x".repeat(400)))
        .unwrap();
    req
}

fn line(req: &RequestHeader, who: &Who) -> Value {
    let finished = Finished {
        req,
        request_id: "req-1",
        trace_id: Some("0af7651916cd43dd8448eb211c80319c"),
        route: Some("reports"),
        status: 200,
        decision: "allow",
        notes: AccessNotes {
            cause: None,
            credential: Credential::ApiKey,
            decision_us: Some(42),
            upstream_ms: Some(1.5),
        },
        identity: Some(("ws1", Some("p1"), who)),
        client_ip: Some("203.0.113.7".parse().unwrap()),
        bytes_in: 3,
        bytes_out: 1024,
        arrived: UNIX_EPOCH + Duration::from_millis(1_767_323_045_678),
        took: Duration::from_micros(2_500),
    };
    let bytes = AccessLine::of(&finished).to_json_line().unwrap();
    assert_eq!(bytes.last(), Some(&b'\n'));
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn one_flat_json_object_with_every_field() {
    let req = request();
    let v = line(&req, &Who::ApiKey("k1d".into()));
    let object = v.as_object().unwrap();
    for field in [
        "time",
        "request_id",
        "trace_id",
        "route",
        "method",
        "path",
        "status",
        "decision",
        "cause",
        "workspace_id",
        "project_id",
        "principal",
        "user_id",
        "api_key_id",
        "client_ip",
        "user_agent",
        "bytes_in",
        "bytes_out",
        "duration_ms",
        "upstream_ms",
        "decision_us",
    ] {
        assert!(object.contains_key(field), "no `{field}`");
    }
    assert!(
        object.values().all(|v| !v.is_object() && !v.is_array()),
        "nested: {v}"
    );
    assert_eq!(v["time"], "2026-01-02T03:04:05.678Z");
    assert_eq!(v["path"], "/w/ws1/reports");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["status"], 200);
    assert_eq!(v["principal"], "api_key");
    assert_eq!(v["api_key_id"], "k1d");
    assert_eq!(v["user_id"], Value::Null);
    assert_eq!(v["workspace_id"], "ws1");
    assert_eq!(v["project_id"], "p1");
    assert_eq!(v["client_ip"], "203.0.113.7");
    assert_eq!(v["bytes_out"], 1024);
    assert_eq!(v["duration_ms"], 2.5);
    assert_eq!(v["decision_us"], 42);
    assert_eq!(v["user_agent"].as_str().unwrap().len(), USER_AGENT_MAX);
}

#[test]
fn no_query_string_cookie_or_authorization() {
    let req = request();
    let text = serde_json::to_string(&line(&req, &Who::User("u1".into()))).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` in {text}");
    }
    assert!(!text.contains("token="), "{text}");
    assert!(!text.contains('?'), "{text}");
}

#[test]
fn times_are_rfc3339_utc() {
    assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_001);
    assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.001Z");
}

#[test]
fn user_agents_are_cut_at_a_character() {
    let ua = "é".repeat(200);
    let cut = truncate(&ua, USER_AGENT_MAX);
    assert!(cut.len() <= USER_AGENT_MAX && ua.starts_with(cut));
}
