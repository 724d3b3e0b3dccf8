//! The canonical path (`wrnexus_gateway::request::path`): what is decided on is a
//! fixed point, forwardable byte for byte, with nothing ambiguous left, and
//! a framework that decodes every escape and ignores case reads the same
//! route, action and workspace.

use crate::oracle;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use wrnexus_gateway::config::Upstream;
use wrnexus_gateway::request::path::canonical;
use wrnexus_gateway::request::routes::RouteTable;
use wrnexus_gateway::request::workspace_path::named;
use wrnexus_gateway::{ActionRule, RouteConfig};

/// The workspace path prefix the table is read with.
pub const WORKSPACE_PREFIX: &str = "/w/";

fn route(name: &str, prefix: &str, rules: &[(&str, &str)]) -> RouteConfig {
    let mut r = RouteConfig::default_for(Upstream {
        host: "127.0.0.1".into(),
        port: 1,
        tls: false,
    });
    r.name = name.into();
    r.path_prefix = prefix.into();
    r.actions = rules
        .iter()
        .map(|(prefix, action)| ActionRule {
            methods: Vec::new(),
            path_prefix: (*prefix).into(),
            action: (*action).into(),
        })
        .collect();
    r
}

/// A table like an operator's: an app with admin and billing areas, a
/// second app, workspace paths, and everything else.
pub fn table() -> Option<RouteTable> {
    let routes = vec![
        route("root", "/", &[]),
        route(
            "app",
            "/app",
            &[("/app/admin", "admin"), ("/app/admin/billing", "billing")],
        ),
        route("api", "/api/v2", &[("/api/v2/keys", "admin")]),
        route("w", "/w", &[]),
    ];
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
    RouteTable::build(routes, |_| true, |_| Some(local)).ok()
}

/// What the gateway decides a canonical path as: route, action and
/// workspace (ids compared without case: a differently cased id names no
/// workspace, which fails closed).
pub fn meaning(t: &RouteTable, path: &str) -> (Option<String>, Option<String>, Option<String>) {
    let route = t.find(None, path).map(|r| r.name().to_string());
    let action = t.action_for(None, "GET", path).map(|a| a.0);
    let workspace = named(path, WORKSPACE_PREFIX)
        .ok()
        .flatten()
        .map(str::to_ascii_lowercase);
    (route, action, workspace)
}

pub fn check(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = canonical(raw) else {
        return;
    };
    // A fixed point.
    assert_eq!(canonical(&c).as_deref(), Ok(c.as_ref()), "{raw:?}");
    // Forwarded as decided.
    let uri = http::Uri::try_from(c.as_ref());
    assert!(
        uri.as_ref().is_ok_and(|u| u.path() == c.as_ref()),
        "{raw:?} -> {c:?} is not forwarded as it is"
    );
    // Nothing a reader could take two ways is left.
    let upper = c.to_ascii_uppercase();
    for bad in ["%2F", "%5C", "%25", "%3B", ";", "\\", "//"] {
        assert!(!upper.contains(bad), "{raw:?} -> {c:?} keeps {bad}");
    }
    for segment in c[1..].split('/') {
        assert!(
            !matches!(segment, "." | ".."),
            "{raw:?} -> {c:?}: dot segment"
        );
        assert!(!segment.ends_with('.'), "{raw:?} -> {c:?}: trailing dot");
    }
    // A framework that decodes everything and ignores case reads the same
    // route, action and workspace (when what it reads is a path at all).
    let Some(t) = table() else {
        return;
    };
    let Some(read) = oracle::percent_decode(&c).and_then(|b| String::from_utf8(b).ok()) else {
        return;
    };
    let read = read.to_ascii_lowercase();
    if let Ok(read) = canonical(&read) {
        assert_eq!(
            meaning(&t, &c),
            meaning(&t, &read),
            "{raw:?} decided as {c:?}, read as {read:?}"
        );
    }
}
