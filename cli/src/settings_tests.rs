//! Tests of the settings: files, environment overrides and their errors.
use super::*;

#[test]
fn unknown_keys_are_named() {
    let err = Settings::parse("[gateway]\nlisten = \"x\"\nlistn = 1\n", "example.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("example.toml"), "{err}");
    assert!(err.contains("listn"), "{err}");
}

#[test]
fn billing_settings_reach_the_control_plane() {
    let text = "[control_plane]\nlisten = \"x\"\ndatabase_url = \"sqlite://t\"\n\
                [billing]\nprice_id = \"price_1\"\ngrace_period_secs = 60\n\
                smtp_url = \"smtp://127.0.0.1:2525\"\nplan = \"pro\"\n";
    let (_, c) = Settings::parse(text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert_eq!(c.billing.price_id.as_deref(), Some("price_1"));
    assert_eq!(c.billing.grace_period, Duration::from_secs(60));
    assert_eq!(c.billing.smtp_url.as_deref(), Some("smtp://127.0.0.1:2525"));
    assert_eq!(c.billing.plan, "pro");
    let err = Settings::parse("[billing]\nprize_id = \"x\"\n", "t.toml").unwrap_err();
    assert!(err.to_string().contains("prize_id"), "{err}");
}

#[test]
fn webhook_settings_reach_the_control_plane() {
    let text = "[control_plane]\nlisten = \"x\"\ndatabase_url = \"sqlite://t\"\n\
                webhook_max_attempts = 3\nwebhook_backoff_base_secs = 2\n\
                webhook_backoff_max_secs = 60\nwebhook_timeout_secs = 4\n\
                webhook_poll_interval_ms = 250\nwebhooks_enabled = false\n";
    let (_, c) = Settings::parse(text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
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
    let settings = Settings::parse(text, "wrnexus.example.toml").unwrap();
    let (_, c) = settings.control_plane("wrnexus.example.toml").unwrap();
    assert_eq!(c.webhooks.max_attempts, 8);
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
    let c = Settings::parse(text, "t.toml")
        .and_then(|s| s.gateway("t.toml"))
        .unwrap();
    assert_eq!(c.trusted_proxies, vec!["10.0.0.0/8".to_string()]);
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].name, "docs.example.com/");
    assert!(c.routes[0].public);
    let app = &c.routes[1];
    assert_eq!(app.connect_timeout, Some(Duration::from_millis(500)));
    assert_eq!(app.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(app.actions[0].methods, vec!["POST".to_string()]);
    assert_eq!(app.actions[0].action, "admin");
    let err = Settings::parse(
        "[gateway]\nlisten = \"x\"\ncontrol_plane_url = \"y\"\n[[gateway.routes]]\nupstream = \"http://a:1\"\npubic = true\n",
        "t.toml",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("pubic"), "{err}");
    let err = Settings::parse(
        "[gateway]\nlisten = \"x\"\ncontrol_plane_url = \"y\"\n",
        "t.toml",
    )
    .and_then(|s| s.gateway("t.toml"))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("upstream"), "{err}");
}

#[test]
fn env_values_keep_their_type() {
    assert_eq!(env_value("42"), toml::Value::Integer(42));
    assert_eq!(env_value("true"), toml::Value::Boolean(true));
    assert_eq!(
        env_value("127.0.0.1:8080"),
        toml::Value::String("127.0.0.1:8080".into())
    );
}

#[test]
fn hardening_switches_reach_their_configs() {
    let base = "[control_plane]\nlisten = \"x\"\ndatabase_url = \"sqlite://t\"\n";
    let (_, c) = Settings::parse(base, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert!(!c.allow_rls_bypass);
    assert!(c.webhooks.allow_networks.is_empty());

    let text = format!(
        "{base}allow_rls_bypass = true\nwebhook_allow_networks = [\"127.0.0.0/8\", \"::1\"]\n"
    );
    let (_, c) = Settings::parse(&text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert!(c.allow_rls_bypass);
    assert_eq!(
        c.webhooks.allow_networks,
        vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    // How a list arrives from WRNEXUS_CONTROL_PLANE__WEBHOOK_ALLOW_NETWORKS.
    let text = format!("{base}webhook_allow_networks = \"10.0.0.0/8, 192.168.0.0/16\"\n");
    let (_, c) = Settings::parse(&text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert_eq!(c.webhooks.allow_networks.len(), 2);

    let text = format!("{base}webhook_allow_networks = [\"10.0.0.0/33\"]\n");
    let err = Settings::parse(&text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml")
            && err.contains("webhook_allow_networks")
            && err.contains("10.0.0.0/33"),
        "{err}"
    );

    let gateway = "[gateway]\nlisten = \"x\"\ncontrol_plane_url = \"http://127.0.0.1:1\"\n\
                   upstream = \"http://127.0.0.1:2\"\n";
    let g = Settings::parse(gateway, "t.toml")
        .and_then(|s| s.gateway("t.toml"))
        .unwrap();
    assert!(!g.allow_stale_revocation);
    let g = Settings::parse(
        &format!("{gateway}allow_stale_revocation = true\n"),
        "t.toml",
    )
    .and_then(|s| s.gateway("t.toml"))
    .unwrap();
    assert!(g.allow_stale_revocation);
}

#[test]
fn control_plane_trusted_proxies_are_read_and_checked() {
    let base = "[control_plane]\nlisten = \"x\"\ndatabase_url = \"sqlite://t\"\n";
    let (_, c) = Settings::parse(base, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert_eq!(c.trusted_proxies, TrustedProxies::loopback());
    let text = format!("{base}trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\n");
    let (_, c) = Settings::parse(&text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert!(c.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
    assert!(c.trusted_proxies.trusts("192.0.2.7".parse().unwrap()));
    assert!(!c.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
    let text = format!("{base}trusted_proxies = [\"10.0.0.0/99\"]\n");
    let err = Settings::parse(&text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("control_plane.trusted_proxies"), "{err}");
    assert!(err.contains("`10.0.0.0/99`"), "{err}");
    // How a list arrives from WRNEXUS_CONTROL_PLANE__TRUSTED_PROXIES.
    let text = format!("{base}trusted_proxies = \"10.0.0.0/8, 192.0.2.7\"\n");
    let (_, c) = Settings::parse(&text, "t.toml")
        .and_then(|s| s.control_plane("t.toml"))
        .unwrap();
    assert!(c.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
    assert!(c.trusted_proxies.trusts("192.0.2.7".parse().unwrap()));
    assert!(!c.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
}
