//! Tests of the routing table: ordering, prefixes, hosts, actions.
use super::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn route(name: &str, host: Option<&str>, prefix: &str) -> RouteConfig {
    let mut r = RouteConfig::default_for(Upstream {
        host: "127.0.0.1".into(),
        port: 1,
        tls: false,
    });
    r.name = name.into();
    r.host = host.map(str::to_string);
    r.path_prefix = prefix.into();
    r
}

fn table(routes: Vec<RouteConfig>) -> Result<RouteTable, RouteError> {
    RouteTable::build(
        routes,
        |a| ["read", "write", "admin", "billing"].contains(&a),
        |_| Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1)),
    )
}

fn name_of<'a>(t: &'a RouteTable, host: Option<&str>, path: &str) -> Option<&'a str> {
    t.find(host, path).map(|r| r.name())
}

#[test]
fn longest_prefix_wins_and_host_beats_hostless() -> Result<(), RouteError> {
    let t = table(vec![
        route("root", None, "/"),
        route("api", None, "/api"),
        route("api-v2", None, "/api/v2"),
        route("docs", Some("Docs.Example.com"), "/"),
    ])?;
    assert_eq!(name_of(&t, None, "/"), Some("root"));
    assert_eq!(name_of(&t, None, "/api"), Some("api"));
    assert_eq!(name_of(&t, None, "/api/x"), Some("api"));
    assert_eq!(name_of(&t, None, "/apix"), Some("root"), "segment boundary");
    assert_eq!(name_of(&t, None, "/api/v2/items"), Some("api-v2"));
    assert_eq!(
        name_of(&t, Some("docs.example.com:8080"), "/api"),
        Some("docs")
    );
    assert_eq!(name_of(&t, Some("DOCS.example.COM"), "/"), Some("docs"));
    assert_eq!(name_of(&t, Some("other.example.com"), "/api"), Some("api"));
    Ok(())
}

#[test]
fn no_route_is_none() -> Result<(), RouteError> {
    let t = table(vec![route("a", Some("a.test"), "/app")])?;
    assert_eq!(name_of(&t, Some("a.test"), "/"), None);
    assert_eq!(name_of(&t, Some("b.test"), "/app"), None);
    assert_eq!(name_of(&t, None, "/app"), None);
    assert!(t.action_for(None, "GET", "/app").is_none());
    Ok(())
}

#[test]
fn actions_map_by_method_and_prefix() -> Result<(), RouteError> {
    let mut r = route("a", None, "/");
    r.actions = vec![
        ActionRule {
            methods: vec!["POST".into(), "DELETE".into()],
            path_prefix: "/admin".into(),
            action: "admin".into(),
        },
        ActionRule {
            methods: vec![],
            path_prefix: "/admin/billing".into(),
            action: "billing".into(),
        },
    ];
    let t = table(vec![r])?;
    let action = |m: &str, p: &str| t.action_for(None, m, p).map(|a| a.0);
    assert_eq!(action("POST", "/admin/users").as_deref(), Some("admin"));
    assert_eq!(action("delete", "/admin").as_deref(), Some("admin"));
    assert_eq!(action("GET", "/admin/users").as_deref(), Some("read"));
    assert_eq!(action("PUT", "/admin/users").as_deref(), Some("write"));
    assert_eq!(
        action("GET", "/admin/billing/x").as_deref(),
        Some("billing")
    );
    assert_eq!(action("POST", "/administer").as_deref(), Some("write"));
    Ok(())
}

#[test]
fn the_actions_in_use_are_the_defaults_and_the_named_ones_of_deciding_routes()
-> Result<(), RouteError> {
    let mut app = route("app", None, "/");
    app.actions = vec![ActionRule {
        methods: vec!["POST".into()],
        path_prefix: "/settings".into(),
        action: "admin".into(),
    }];
    let mut open = route("status", None, "/status");
    open.public = true;
    open.actions = app.actions.clone();
    let t = table(vec![app, open])?;
    let uses: Vec<(String, String)> = t
        .actions_in_use()
        .into_iter()
        .map(|u| (u.route, u.action))
        .collect();
    assert_eq!(
        uses,
        [
            ("app".to_string(), "read".to_string()),
            ("app".to_string(), "write".to_string()),
            ("app".to_string(), "admin".to_string()),
        ]
    );
    let missing = t.undeclared(|a| a != "admin");
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].to_string(), "route `app` uses action `admin`");
    assert!(t.undeclared(|_| true).is_empty());
    Ok(())
}

#[test]
fn bad_tables_are_refused() {
    let mut r = route("a", None, "/");
    r.actions = vec![ActionRule {
        methods: vec![],
        path_prefix: "/".into(),
        action: "launch".into(),
    }];
    assert!(matches!(
        table(vec![r]),
        Err(RouteError::UnknownAction { .. })
    ));
    assert!(matches!(
        table(vec![route("a", None, "api")]),
        Err(RouteError::BadPrefix { .. })
    ));
    assert!(matches!(
        table(vec![route("a", None, "/x"), route("b", None, "/x")]),
        Err(RouteError::Duplicate { .. })
    ));
    assert!(matches!(
        table(vec![route("a", None, "/x"), route("a", None, "/y")]),
        Err(RouteError::BadName(_))
    ));
    let mut named = route("a", None, "/");
    named.upstreams[0].host = "app.internal".into();
    let unresolvable = RouteTable::build(vec![named], |_| true, |_| None);
    assert!(
        matches!(&unresolvable, Err(RouteError::Unresolvable { route, address }) if route == "a" && address == "app.internal:1"),
        "{unresolvable:?}"
    );
    let mut with_ca = route("a", None, "/");
    with_ca.reach.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let refused = table(vec![with_ca]).unwrap_err();
    assert!(
        matches!(&refused, RouteError::Upstream { key, .. } if *key == "ca_file"),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .starts_with("route `a`: `ca_file`: set, but"),
        "{refused}"
    );
}

#[test]
fn peers_carry_the_route_timeouts() -> Result<(), RouteError> {
    let mut r = route("a", None, "/");
    r.connect_timeout = Some(Duration::from_millis(250));
    r.read_timeout = Some(Duration::from_secs(5));
    r.idle_timeout = Some(Duration::from_secs(30));
    let t = table(vec![r])?;
    let peer = t.find(None, "/").and_then(|r| r.pool().select());
    let options = peer.map(|(p, _)| p.options);
    assert_eq!(
        options.as_ref().and_then(|o| o.connection_timeout),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        options.as_ref().and_then(|o| o.read_timeout),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        options.as_ref().and_then(|o| o.idle_timeout),
        Some(Duration::from_secs(30))
    );
    Ok(())
}
