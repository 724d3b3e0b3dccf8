//! The OpenAPI document: served at both API prefixes, OpenAPI 3.x, and
//! describing every route of `fn v1()` with its methods and nothing else, so
//! that a route added without documentation (or documentation left behind
//! by a removed route) fails here; roles, statuses and problems as the wire
//! contract defines them.

mod common;

use common::TestResult;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::oneshot;
use wrnexus_control_plane::store::sqlite_url;

const ROUTER_SOURCE: &str = include_str!("../src/api.rs");
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The routes of `fn v1()`: path to methods, read from the source text.
fn v1_routes() -> TestResult<BTreeMap<String, BTreeSet<String>>> {
    let start = ROUTER_SOURCE
        .find("fn v1()")
        .ok_or("`fn v1()` not found in api.rs")?;
    let body = &ROUTER_SOURCE[start..];
    let end = body.find("\n}\n").ok_or("end of `fn v1()` not found")?;
    let body = &body[..end];
    let mut routes = BTreeMap::new();
    for call in body.split(".route(").skip(1) {
        let open = call.find('"').ok_or("route without a path literal")?;
        let rest = &call[open + 1..];
        let close = rest.find('"').ok_or("unterminated path literal")?;
        let path = rest[..close].to_string();
        let methods = method_calls(&rest[close + 1..]);
        if methods.is_empty() {
            return Err(format!("no methods found for route `{path}`").into());
        }
        routes.insert(path, methods);
    }
    Ok(routes)
}

/// Method routers called in one `.route(...)`: `get(`, `.post(`, … but not
/// handler paths such as `webhooks::delete`.
fn method_calls(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for method in METHODS {
        let needle = format!("{method}(");
        for (at, _) in text.match_indices(&needle) {
            let before = text[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                found.insert(method.to_string());
            }
        }
    }
    found
}

#[test]
fn the_route_parser_sees_the_router() -> TestResult {
    let routes = v1_routes()?;
    assert!(routes.len() >= 20, "only {} routes parsed", routes.len());
    let members = routes
        .get("/workspaces/{id}/members/{user_id}")
        .ok_or("members route not parsed")?;
    assert_eq!(
        members.iter().map(String::as_str).collect::<Vec<_>>(),
        ["delete", "patch"]
    );
    Ok(())
}

#[tokio::test]
async fn every_v1_route_is_documented() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config =
        wrnexus_control_plane::ControlPlaneConfig::new(sqlite_url(&dir.path().join("t.sqlite")));
    let state = wrnexus_control_plane::build(config, None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(wrnexus_control_plane::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    let mut documents = Vec::new();
    for prefix in ["/v1", "/.wrnexus/api/v1"] {
        let response = client
            .get(format!("{base}{prefix}/openapi.json"))
            .send()
            .await?;
        assert_eq!(response.status(), 200, "{prefix}/openapi.json");
        let text = response.text().await?;
        documents.push(serde_json::from_str::<Value>(&text)?);
    }
    let _ = stop.send(());
    server.await??;
    assert_eq!(
        documents[0], documents[1],
        "both prefixes serve one document"
    );
    let doc = &documents[0];

    let version = doc["openapi"].as_str().ok_or("no `openapi` version")?;
    assert!(version.starts_with("3."), "openapi version {version}");
    let paths = doc["paths"].as_object().ok_or("no `paths`")?;

    let routes = v1_routes()?;
    let mut missing = Vec::new();
    for (path, methods) in &routes {
        for method in methods {
            if paths.get(path).and_then(|p| p.get(method)).is_none() {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");

    // Nor does the document describe routes that do not exist.
    let mut phantom = Vec::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().ok_or("path item is not an object")?;
        for method in METHODS.iter().filter(|m| item.contains_key(**m)) {
            if !routes.get(path).is_some_and(|m| m.contains(*method)) {
                phantom.push(format!("{} {path}", method.to_uppercase()));
            }
            let id = item[*method]["operationId"]
                .as_str()
                .ok_or_else(|| format!("{method} {path} has no operationId"))?;
            assert!(
                operation_ids.insert(id.to_string()),
                "duplicate operationId {id}"
            );
        }
    }
    assert!(phantom.is_empty(), "documented but not routed: {phantom:?}");

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .ok_or("no security schemes")?;
    for scheme in ["session", "api_key", "operator"] {
        assert!(schemes.contains_key(scheme), "security scheme {scheme}");
    }
    // Roles, statuses and problems are the wire contract's own types.
    let schemas = &doc["components"]["schemas"];
    let names = |schema: &Value| -> Vec<String> {
        schema["enum"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let roles: Vec<String> = wrnexus_contract::Role::ALL
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(names(&schemas["Role"]), roles, "Role schema");
    let statuses: Vec<String> = wrnexus_contract::WorkspaceStatus::ALL
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names(&schemas["WorkspaceStatus"]),
        statuses,
        "WorkspaceStatus schema"
    );
    let problem = schemas["Problem"]["properties"]
        .as_object()
        .ok_or("no Problem schema")?;
    for field in [
        "type",
        "title",
        "status",
        "code",
        "detail",
        "field",
        "decision_id",
    ] {
        assert!(problem.contains_key(field), "Problem.{field}");
    }
    Ok(())
}
