//! Tests of the settings: files, environment overrides and their errors.
use super::*;
use std::time::Duration;
use wrnexus_control_plane::api::forwarded::TrustedProxies;

/// `text` as `t.toml`, without the process's environment.
fn parse(text: &str) -> Result<Settings> {
    Settings::parse_with_env(text, "t.toml", [])
}

/// `text` as `t.toml`, with `vars` as the environment.
fn parse_env(text: &str, vars: &[(&str, &str)]) -> Result<Settings> {
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::parse_with_env(text, "t.toml", vars)
}

fn error<T>(result: Result<T>) -> String {
    result.err().map(|e| format!("{e:#}")).unwrap_or_default()
}

const GATEWAY: &str = "[gateway]\nlisten = \"127.0.0.1:8080\"\n\
                       control_plane_url = \"http://127.0.0.1:1\"\n\
                       upstream = \"http://127.0.0.1:2\"\n";
const CONTROL_PLANE: &str = "[control_plane]\nlisten = \"x\"\ndatabase_url = \"sqlite://t\"\n";

#[test]
fn unknown_keys_are_named_with_file_and_line() {
    let err = error(Settings::parse_with_env(
        "[gateway]\nlisten = \"x\"\nlistn = 1\n",
        "example.toml",
        [],
    ));
    assert!(
        err.starts_with("example.toml:3: `gateway.listn`: unknown key"),
        "{err}"
    );
    assert!(err.contains("`listen`"), "{err}");
    // In a route: the index picks the table, the line is the key's.
    let err = error(parse(&format!(
        "{GATEWAY}\n[[gateway.routes]]\nupstream = \"http://a:1\"\n\n\
         [[gateway.routes]]\nupstream = \"http://a:1\"\npubic = true\n"
    )));
    assert!(
        err.starts_with("t.toml:11: `gateway.routes.1.pubic`: unknown key"),
        "{err}"
    );
    // A missing key: the table that lacks it.
    let err = error(parse("\n[gateway]\nlisten = \"x\"\n"));
    assert!(
        err.contains("t.toml:2: `gateway`: missing key `control_plane_url`"),
        "{err}"
    );
    // Bad TOML: the line of the fault.
    let err = error(parse("[gateway]\nlisten = \n"));
    assert!(err.starts_with("t.toml:2: "), "{err}");
}

#[test]
fn bad_values_name_file_line_and_key() {
    let err = error(parse(&format!("{GATEWAY}cache_ttl_secs = \"soon\"\n")));
    assert!(
        err.starts_with("t.toml:5: `gateway.cache_ttl_secs`: `soon` is not a duration"),
        "{err}"
    );
    let err = error(parse(&format!("{GATEWAY}threads = \"two\"\n")));
    assert!(
        err.starts_with("t.toml:5: `gateway.threads`: expected usize, found string \"two\""),
        "{err}"
    );
    // Found after reading: the route's upstream, by the gateway's parser.
    let err = error(
        parse(&format!(
            "{GATEWAY}[[gateway.routes]]\nupstream = \"http://a:1/api\"\n"
        ))
        .and_then(|s| s.gateway()),
    );
    assert!(
        err.starts_with("t.toml:6: `gateway.routes.0.upstream`: `http://a:1/api`"),
        "{err}"
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let err = error(parse_env(
        GATEWAY,
        &[("WRNEXUS_GATEWAY__CACHE_TTL_SECS", "a while")],
    ));
    assert!(
        err.starts_with("environment variable `WRNEXUS_GATEWAY__CACHE_TTL_SECS`: `a while`"),
        "{err}"
    );
    let err = error(parse_env(GATEWAY, &[("WRNEXUS_GATEWAY__LISTN", "x")]));
    assert!(
        err.starts_with("environment variable `WRNEXUS_GATEWAY__LISTN`: unknown key"),
        "{err}"
    );
    let err = error(
        parse_env(
            GATEWAY,
            &[("WRNEXUS_GATEWAY__UPSTREAM", "ftp://app.internal")],
        )
        .and_then(|s| s.gateway()),
    );
    assert!(
        err.starts_with("environment variable `WRNEXUS_GATEWAY__UPSTREAM`: `ftp://"),
        "{err}"
    );
    // Variables that are not settings are left alone.
    let s = parse_env(
        GATEWAY,
        &[("WRNEXUS_LOG", "debug"), ("WRNEXUS_OPERATOR_TOKEN", "[x")],
    );
    assert!(s.is_ok(), "{}", error(s));
}

#[test]
fn lists_come_from_the_environment_as_arrays_or_commas() {
    let g = parse_env(
        GATEWAY,
        &[(
            "WRNEXUS_GATEWAY__TRUSTED_PROXIES",
            r#"["10.0.0.0/8","::1"]"#,
        )],
    )
    .and_then(|s| s.gateway())
    .unwrap();
    assert_eq!(g.trusted_proxies, vec!["10.0.0.0/8", "::1"]);
    let g = parse_env(
        GATEWAY,
        &[("WRNEXUS_GATEWAY__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")],
    )
    .and_then(|s| s.gateway())
    .unwrap();
    assert_eq!(g.trusted_proxies, vec!["10.0.0.0/8", "192.0.2.7"]);
    // The environment wins over the file; other keys keep the file's value.
    let (_, c) = parse_env(
        &format!(
            "{CONTROL_PLANE}webhook_allow_networks = [\"10.0.0.0/8\"]\nwebhook_max_attempts = 3\n"
        ),
        &[(
            "WRNEXUS_CONTROL_PLANE__WEBHOOK_ALLOW_NETWORKS",
            r#"["127.0.0.0/8", "::1"]"#,
        )],
    )
    .and_then(|s| s.control_plane())
    .unwrap();
    assert_eq!(
        c.webhooks.allow_networks,
        vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    assert_eq!(c.webhooks.max_attempts, 3);
    // A bad element: the list's variable.
    let err = error(
        parse_env(
            CONTROL_PLANE,
            &[(
                "WRNEXUS_CONTROL_PLANE__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "10.0.0.0/99"]"#,
            )],
        )
        .and_then(|s| s.control_plane()),
    );
    assert!(
        err.starts_with("environment variable `WRNEXUS_CONTROL_PLANE__TRUSTED_PROXIES`: ")
            && err.contains("`10.0.0.0/99`"),
        "{err}"
    );
}

#[test]
fn environment_values_keep_their_type() {
    let g = parse_env(
        GATEWAY,
        &[
            ("WRNEXUS_GATEWAY__CACHE_CAPACITY", "42"),
            ("WRNEXUS_GATEWAY__ALLOW_STALE_REVOCATION", "true"),
            ("WRNEXUS_GATEWAY__LISTEN", "0.0.0.0:8080"),
            ("WRNEXUS_GATEWAY__STALE_BOUND_SECS", "2"),
            ("WRNEXUS_GATEWAY__WORKSPACE_PATH_PREFIX", ""),
        ],
    )
    .and_then(|s| s.gateway())
    .unwrap();
    assert_eq!(g.cache_capacity, 42);
    assert!(g.allow_stale_revocation);
    assert_eq!(g.listen, "0.0.0.0:8080");
    assert_eq!(g.stale_bound, Duration::from_secs(2));
    assert_eq!(g.workspace_path_prefix, "");
}

#[test]
fn durations_read_with_or_without_a_unit() {
    let text = format!(
        "{GATEWAY}cache_ttl_secs = \"10s\"\nstale_bound_secs = 30\ndrain_timeout_secs = \"2m\"\n\
         key_usage_flush_ms = \"1s\"\n[policies]\npoll_interval_ms = \"250ms\"\n\
         [[gateway.routes]]\nupstream = \"http://a:1\"\nread_timeout_ms = \"30s\"\n\
         connect_timeout_ms = 500\n"
    );
    let g = parse(&text).and_then(|s| s.gateway()).unwrap();
    assert_eq!(g.cache_ttl, Duration::from_secs(10));
    assert_eq!(g.stale_bound, Duration::from_secs(30));
    assert_eq!(g.drain_timeout, Duration::from_secs(120));
    assert_eq!(g.keepalive_timeout, Duration::from_secs(60), "the default");
    assert_eq!(g.key_usage_flush, Duration::from_secs(1));
    assert_eq!(g.policy_poll, Duration::from_millis(250));
    assert_eq!(g.routes[0].read_timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        g.routes[0].connect_timeout,
        Some(Duration::from_millis(500))
    );
    let g = parse_env(GATEWAY, &[("WRNEXUS_GATEWAY__CACHE_TTL_SECS", "10s")])
        .and_then(|s| s.gateway())
        .unwrap();
    assert_eq!(g.cache_ttl, Duration::from_secs(10));
    let (_, c) = parse(&format!(
        "{CONTROL_PLANE}session_ttl_secs = \"12h\"\nwebhook_timeout_secs = \"250ms\"\n"
    ))
    .and_then(|s| s.control_plane())
    .unwrap();
    assert_eq!(c.session_ttl_secs, 12 * 3600);
    // The timeout's floor of a second still holds.
    assert_eq!(c.webhooks.timeout, Duration::from_secs(1));
    let err = error(
        parse(&format!("{CONTROL_PLANE}session_ttl_secs = \"1500ms\"\n"))
            .and_then(|s| s.control_plane()),
    );
    assert!(
        err.starts_with("t.toml:4: `control_plane.session_ttl_secs`: `1s 500ms` is not a whole"),
        "{err}"
    );
}

#[test]
fn billing_settings_reach_the_control_plane() {
    let text = format!(
        "{CONTROL_PLANE}[billing]\nprice_id = \"price_1\"\ngrace_period_secs = 60\n\
         smtp_url = \"smtp://127.0.0.1:2525\"\nplan = \"pro\"\n"
    );
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert_eq!(c.billing.price_id.as_deref(), Some("price_1"));
    assert_eq!(c.billing.grace_period, Duration::from_secs(60));
    // `[billing] smtp_url`: the older spelling of `[mail] smtp_url`.
    assert_eq!(c.mail.smtp_url.as_deref(), Some("smtp://127.0.0.1:2525"));
    assert_eq!(c.billing.plan, "pro");
    let err = error(parse("[billing]\nprize_id = \"x\"\n"));
    assert!(err.contains("prize_id"), "{err}");
}

#[test]
fn webhook_settings_reach_the_control_plane() {
    let text = format!(
        "{CONTROL_PLANE}webhook_max_attempts = 3\nwebhook_backoff_base_secs = 2\n\
         webhook_backoff_max_secs = 60\nwebhook_timeout_secs = 4\n\
         webhook_poll_interval_ms = 250\nwebhooks_enabled = false\n"
    );
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert_eq!(c.webhooks.max_attempts, 3);
    assert_eq!(c.webhooks.backoff_base, Duration::from_secs(2));
    assert_eq!(c.webhooks.backoff_max, Duration::from_secs(60));
    assert_eq!(c.webhooks.timeout, Duration::from_secs(4));
    assert_eq!(c.webhooks.poll_interval, Duration::from_millis(250));
    assert!(!c.webhooks.enabled);
}

#[test]
fn the_example_file_is_valid() {
    let text = include_str!("../../deploy/config/wrnexus.example.toml");
    let settings = Settings::parse_with_env(text, "wrnexus.example.toml", []).unwrap();
    let (_, c) = settings.control_plane().unwrap();
    assert_eq!(c.webhooks.max_attempts, 8);
    settings.gateway().unwrap();
}

#[test]
fn routes_and_trusted_proxies_are_read() {
    let text = r#"
[gateway]
listen = "127.0.0.1:8080"
control_plane_url = "http://127.0.0.1:7070"
trusted_proxies = ["10.0.0.0/8"]

[[gateway.routes]]
host = "docs.example.com"
path_prefix = "/"
upstream = "http://127.0.0.1:3001"
public = true

[[gateway.routes]]
name = "app"
path_prefix = "/app"
upstream = "http://127.0.0.1:3000"
connect_timeout_ms = 500
read_timeout_ms = 30000
idle_timeout_secs = 60
actions = [{ methods = ["post"], path_prefix = "/app/admin", action = "admin" }]
"#;
    let c = parse(text).and_then(|s| s.gateway()).unwrap();
    assert_eq!(c.trusted_proxies, vec!["10.0.0.0/8".to_string()]);
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].name, "docs.example.com/");
    assert!(c.routes[0].public);
    let app = &c.routes[1];
    assert_eq!(app.connect_timeout, Some(Duration::from_millis(500)));
    assert_eq!(app.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(app.actions[0].methods, vec!["POST".to_string()]);
    assert_eq!(app.actions[0].action, "admin");
    let err = error(parse(
        "[gateway]\nlisten = \"x\"\ncontrol_plane_url = \"y\"\n[[gateway.routes]]\nupstream = \"http://a:1\"\npubic = true\n",
    ));
    assert!(err.contains("pubic"), "{err}");
    let err = error(
        parse("[gateway]\nlisten = \"x\"\ncontrol_plane_url = \"y\"\n").and_then(|s| s.gateway()),
    );
    assert!(err.contains("upstream"), "{err}");
}

#[test]
fn hardening_switches_reach_their_configs() {
    let (_, c) = parse(CONTROL_PLANE)
        .and_then(|s| s.control_plane())
        .unwrap();
    assert!(!c.allow_rls_bypass);
    assert!(c.webhooks.allow_networks.is_empty());

    let text = format!(
        "{CONTROL_PLANE}allow_rls_bypass = true\nwebhook_allow_networks = [\"127.0.0.0/8\", \"::1\"]\n"
    );
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert!(c.allow_rls_bypass);
    assert_eq!(
        c.webhooks.allow_networks,
        vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    let text = format!("{CONTROL_PLANE}webhook_allow_networks = \"10.0.0.0/8, 192.168.0.0/16\"\n");
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert_eq!(c.webhooks.allow_networks.len(), 2);

    let text = format!("{CONTROL_PLANE}webhook_allow_networks = [\"10.0.0.0/33\"]\n");
    let err = error(parse(&text).and_then(|s| s.control_plane()));
    assert!(
        err.starts_with("t.toml:4: `control_plane.webhook_allow_networks`: ")
            && err.contains("10.0.0.0/33"),
        "{err}"
    );

    let g = parse(GATEWAY).and_then(|s| s.gateway()).unwrap();
    assert!(!g.allow_stale_revocation);
    let g = parse(&format!("{GATEWAY}allow_stale_revocation = true\n"))
        .and_then(|s| s.gateway())
        .unwrap();
    assert!(g.allow_stale_revocation);
}

#[test]
fn control_plane_trusted_proxies_are_read_and_checked() {
    let (_, c) = parse(CONTROL_PLANE)
        .and_then(|s| s.control_plane())
        .unwrap();
    assert_eq!(c.trusted_proxies, TrustedProxies::loopback());
    let text = format!("{CONTROL_PLANE}trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\n");
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert!(c.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
    assert!(c.trusted_proxies.trusts("192.0.2.7".parse().unwrap()));
    assert!(!c.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
    let text = format!("{CONTROL_PLANE}trusted_proxies = [\"10.0.0.0/99\"]\n");
    let err = error(parse(&text).and_then(|s| s.control_plane()));
    assert!(err.contains("`control_plane.trusted_proxies`"), "{err}");
    assert!(err.contains("`10.0.0.0/99`"), "{err}");
    let text = format!("{CONTROL_PLANE}trusted_proxies = \"10.0.0.0/8, 192.0.2.7\"\n");
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert!(c.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
    assert!(c.trusted_proxies.trusts("192.0.2.7".parse().unwrap()));
    assert!(!c.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
}

#[test]
fn a_check_names_each_bad_field() {
    // What start and `config check` share: every problem, each located.
    let text = format!(
        "{GATEWAY}admin_listen = \"nowhere\"\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n\
         allow_stale_revocation = true\n"
    );
    let settings = parse(&text).unwrap();
    let err = error(crate::validate::gateway(&settings));
    assert!(
        err.contains("t.toml:5: `gateway.admin_listen`: `nowhere` is not a socket address"),
        "{err}"
    );
    assert!(
        err.contains("t.toml:6: `gateway.trusted_proxies`: `10.0.0.0/40`"),
        "{err}"
    );
    let text = format!("{CONTROL_PLANE}redis_url = \"http://r\"\n");
    let settings = parse(&text).unwrap();
    let err = error(crate::validate::control_plane(&settings));
    assert!(
        err.contains("t.toml:2: `control_plane.listen`: `x`"),
        "{err}"
    );
    assert!(err.contains("t.toml:4: `control_plane.redis_url`"), "{err}");
}

#[test]
fn a_pages_dir_is_loaded_and_its_errors_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sign-in.html"), "<p>\n{% if %}\n").unwrap();
    let text = format!(
        "{CONTROL_PLANE}pages_dir = {:?}\n",
        dir.path().display().to_string()
    );
    let err = error(parse(&text).and_then(|s| s.control_plane()));
    let file = dir.path().join("sign-in.html").display().to_string();
    assert!(
        err.starts_with(&format!(
            "t.toml:4: `control_plane.pages_dir`: `{file}`:2: syntax error"
        )),
        "{err}"
    );
    std::fs::write(dir.path().join("sign-in.html"), "<p>{{ email }}</p>\n").unwrap();
    let (_, c) = parse(&text).and_then(|s| s.control_plane()).unwrap();
    assert!(c.pages.logo().is_none());
}

#[test]
fn the_policy_solver_reaches_both_configs() -> Result<()> {
    let text = format!(
        "{GATEWAY}{CONTROL_PLANE}[policies]\nsolver = \"/opt/cvc5/bin/cvc5\"\nsolver_timeout_ms = \"2s\"\n"
    );
    let s = parse(&text)?;
    let gateway = s.gateway()?.policy_proofs;
    assert_eq!(
        gateway.solver,
        Some((
            PathBuf::from("/opt/cvc5/bin/cvc5"),
            "[policies] solver".to_string()
        ))
    );
    assert_eq!(gateway.timeout, Duration::from_secs(2));
    assert_eq!(s.control_plane()?.1.policy_proofs, gateway);
    // Unset: the environment's `CVC5`, else `cvc5` on PATH, 5 s a query.
    let s = parse(GATEWAY)?;
    let proofs = s.gateway()?.policy_proofs;
    assert_eq!(proofs, ProofSettings::default());
    assert_eq!(proofs.timeout, Duration::from_secs(5));
    let s = parse_env(GATEWAY, &[("WRNEXUS_POLICIES__SOLVER", "/usr/bin/cvc5")])?;
    assert_eq!(
        s.gateway()?.policy_proofs.solver.map(|(p, _)| p),
        Some(PathBuf::from("/usr/bin/cvc5"))
    );
    let err = error(
        parse(&format!("{GATEWAY}[policies]\nsolver_timeout_ms = 0\n")).and_then(|s| s.gateway()),
    );
    assert!(
        err.contains("t.toml:") && err.contains("solver_timeout_ms must be at least 1"),
        "{err}"
    );
    Ok(())
}

#[test]
fn idle_client_connections_are_bounded() -> Result<(), Box<dyn std::error::Error>> {
    let g = parse(&format!("{GATEWAY}keepalive_timeout_secs = \"2m\"\n"))?.gateway()?;
    assert_eq!(g.keepalive_timeout, Duration::from_secs(120));
    let err =
        error(parse(&format!("{GATEWAY}keepalive_timeout_secs = 0\n")).and_then(|s| s.gateway()));
    assert!(
        err.contains("t.toml:") && err.contains("keepalive_timeout_secs must be at least 1"),
        "{err}"
    );
    Ok(())
}
