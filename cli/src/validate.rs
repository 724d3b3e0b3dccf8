//! Every check a start makes, in one place: `wrnexus gateway` and
//! `wrnexus control-plane` run them before starting anything, and
//! `wrnexus config check` runs the same without starting. Each problem
//! names where its value came from (file, line and key, or the variable);
//! all of them are reported at once.

use crate::settings::Settings;
use anyhow::{Result, anyhow};
use std::fmt::Display;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use wrnexus_backends::{PostgresTls, RedisClient};
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::billing::stripe_api::StripeApi;
use wrnexus_control_plane::mail::transport::{Mailer, MailerError};
use wrnexus_control_plane::store::Backend;
use wrnexus_gateway::GatewayConfig;
use wrnexus_gateway::config::TlsConfig;
use wrnexus_gateway::request::routes::{RouteError, RouteTable};
use wrnexus_gateway::upstream::discovery::system_resolver;
use wrnexus_gateway::upstream::forwarded::TrustedProxies;
use wrnexus_policies::PolicySource;
use wrnexus_policies::reload::load_checked_with;

/// The problems found so far, each a line.
struct Problems<'a> {
    settings: &'a Settings,
    found: Vec<String>,
}

impl<'a> Problems<'a> {
    fn new(settings: &'a Settings) -> Self {
        Problems {
            settings,
            found: Vec::new(),
        }
    }

    /// Note `result`'s error as a problem with the value at `key`.
    fn check<T, E: Display>(&mut self, key: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| {
                self.found
                    .push(format!("{}: {e}", self.settings.locate(key)));
            })
            .ok()
    }

    fn finish<T>(self, value: T) -> Result<T> {
        if self.found.is_empty() {
            Ok(value)
        } else {
            Err(anyhow!("{}", self.found.join("\n")))
        }
    }
}

/// A listen address: `IP:port`, or `name:port` that resolves.
fn socket_address(text: &str) -> Result<(), String> {
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("`{text}` is not a socket address like 127.0.0.1:8080 or [::]:8080");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    match text.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(_)) => Ok(()),
        _ => Err(format!("`{text}` does not resolve to an address")),
    }
}

/// An absolute `http://` or `https://` URL.
fn http_url(text: &str) -> Result<(), String> {
    let bad = |why: &str| format!("`{text}` is not a URL like http://127.0.0.1:7070: {why}");
    let uri: http::Uri = text.parse().map_err(|_| bad("it does not parse"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http:// or https://")),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(bad("it names no host")),
    }
}

/// `{section}.redis_url` and `{section}.redis_ca_file`, read as the Redis
/// clients read them (`#insecure` refused, the CA file read; nothing is
/// connected).
fn redis(problems: &mut Problems, section: &str, url: Option<&str>, ca_file: Option<&Path>) {
    match (url, ca_file) {
        (Some(url), ca_file) => {
            if let Err(e) = RedisClient::open(url, ca_file) {
                problems.check::<(), _>(&format!("{section}.{}", e.key()), Err(e));
            }
        }
        (None, Some(_)) => {
            problems.check::<(), _>(
                &format!("{section}.redis_ca_file"),
                Err("`redis_ca_file` is set without `redis_url`"),
            );
        }
        (None, None) => {}
    }
}

/// A database URL the control plane can open, with usable TLS settings
/// (`sslmode`, `sslrootcert`).
fn database_url(text: &str) -> Result<(), String> {
    let backend = wrnexus_control_plane::store::backend_of(text).map_err(|_| {
        format!(
            "`{}` is not a database URL: it must start with postgres:// or sqlite:",
            wrnexus_control_plane::store::redact_url(text)
        )
    })?;
    if backend == Backend::Postgres {
        PostgresTls::of_url(text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The database URLs `wrnexus migrate` connects with, checked as a start
/// checks them.
pub fn migrate(settings: &Settings) -> Result<ControlPlaneConfig> {
    let (_, config) = settings.control_plane()?;
    let mut problems = Problems::new(settings);
    database_urls(&mut problems, &config);
    problems.finish(config)
}

fn database_urls(problems: &mut Problems, config: &ControlPlaneConfig) {
    problems.check(
        "control_plane.database_url",
        database_url(&config.database_url),
    );
    if let Some(url) = &config.migrate_database_url {
        problems.check("control_plane.migrate_database_url", database_url(url));
    }
}

/// Where a policy set's errors are reported.
fn policy_key(source: &PolicySource, key: &str) -> String {
    match source {
        PolicySource::Dir(_) => key.to_string(),
        _ => "policies".to_string(),
    }
}

/// Every check `wrnexus gateway` makes before it starts: the `[gateway]`
/// section read, its addresses, URLs and trusted proxies, the policy sets
/// (live and shadow) and the routes held to them, and an invalidation source.
pub fn gateway(settings: &Settings) -> Result<GatewayConfig> {
    let config = settings.gateway()?;
    let mut problems = Problems::new(settings);
    problems.check("gateway.listen", socket_address(&config.listen));
    problems.check("gateway.admin_listen", socket_address(&config.admin_listen));
    problems.check(
        "gateway.control_plane_url",
        http_url(&config.control_plane_url),
    );
    redis(
        &mut problems,
        "gateway",
        config.redis_url.as_deref(),
        config.redis_ca_file.as_deref(),
    );
    problems.check(
        "gateway.trusted_proxies",
        TrustedProxies::parse(&config.trusted_proxies),
    );
    if let Some(tls) = &config.tls {
        tls_listener(&mut problems, tls);
    }
    let live_key = policy_key(&config.policies, "policies.dir");
    let policies = problems.check(
        &live_key,
        load_checked_with(&config.policies, &config.policy_proofs)
            .map_err(|e| format!("the policies fail their checks:\n{e}")),
    );
    let shadow = match &config.shadow_policies {
        Some(source) => problems.check(
            "policies.shadow_dir",
            load_checked_with(source, &config.policy_proofs)
                .map_err(|e| format!("the policies fail their checks:\n{e}")),
        ),
        None => None,
    };
    let upstreams_usable = upstream_settings(&mut problems, &config);
    if let (Some(policies), true) = (&policies, upstreams_usable) {
        let routes = RouteTable::build_with(
            config.effective_routes(),
            |action| policies.knows_action(action),
            system_resolver(),
        )
        .map_err(|e| {
            let key = match &e {
                RouteError::Unresolvable { route, .. } => route_key(&config, route, "upstream"),
                RouteError::Upstream { route, key, .. } => route_key(&config, route, key),
                _ => "gateway.routes".to_string(),
            };
            problems.check::<(), _>(&key, Err(e));
        })
        .ok();
        if let Some(routes) = routes {
            for u in routes.undeclared(|a| policies.knows_action(a)) {
                problems.check::<(), _>(
                    &live_key,
                    Err(format!("{u}, which the policies' schema does not declare")),
                );
            }
            if let Some(shadow) = &shadow {
                for u in routes.undeclared(|a| shadow.knows_action(a)) {
                    problems.check::<(), _>(
                        "policies.shadow_dir",
                        Err(format!(
                            "{u}, which the shadow policies' schema does not declare"
                        )),
                    );
                }
            }
        }
    }
    problems.check("gateway", config.check_invalidation_source(false));
    problems.finish(config)
}

/// The listener's certificates read and checked as a start reads them, and
/// the redirect listener's address.
fn tls_listener(problems: &mut Problems<'_>, tls: &TlsConfig) {
    let provider = wrnexus_gateway::edge::certs::provider();
    problems.check(
        "gateway.tls",
        wrnexus_gateway::edge::reload::CertReloader::first(&tls.certificates, &provider),
    );
    if let Some(redirect) = &tls.redirect {
        problems.check(
            "gateway.tls.redirect_listen",
            socket_address(&redirect.listen),
        );
        if let Some(webroot) = &redirect.acme_webroot {
            problems.check(
                "gateway.tls.acme_webroot",
                if webroot.is_dir() {
                    Ok(())
                } else {
                    Err(format!("`{}` is not a directory", webroot.display()))
                },
            );
        }
    }
}

/// Where a route's `key` is set: `gateway.routes.N.key`, or
/// `gateway.upstream` for the route of the single `upstream` setting.
fn route_key(config: &GatewayConfig, route: &str, key: &str) -> String {
    match config.routes.iter().position(|r| r.name == route) {
        Some(index) => format!("gateway.routes.{index}.{key}"),
        None => "gateway.upstream".to_string(),
    }
}

/// Each route's upstream settings (TLS files read, health checks) checked
/// as a start checks them, each problem at its key; whether all are usable.
fn upstream_settings(problems: &mut Problems<'_>, config: &GatewayConfig) -> bool {
    let mut usable = true;
    for (index, route) in config.routes.iter().enumerate() {
        if let Err(e) = wrnexus_gateway::upstream::pool::check(route) {
            usable = false;
            problems.check::<(), _>(&format!("gateway.routes.{index}.{}", e.key()), Err(e));
        }
    }
    usable
}

/// Every check `wrnexus control-plane` makes before it connects: the
/// `[control_plane]` section read (trusted proxies, webhook networks, page
/// templates), its address and URLs (the databases' and Redis's TLS
/// settings included), the policy set, the mail settings (SMTP URL, sender;
/// the templates are rendered when read) and billing's Stripe settings.
pub fn control_plane(settings: &Settings) -> Result<(String, ControlPlaneConfig)> {
    let (listen, config) = settings.control_plane()?;
    let mut problems = Problems::new(settings);
    problems.check("control_plane.listen", socket_address(&listen));
    database_urls(&mut problems, &config);
    redis(
        &mut problems,
        "control_plane",
        config.redis_url.as_deref(),
        config.redis_ca_file.as_deref(),
    );
    problems.check(
        &policy_key(&config.policies, "policies.dir"),
        load_checked_with(&config.policies, &config.policy_proofs)
            .map_err(|e| format!("the policies fail their checks:\n{e}")),
    );
    let billing = &config.billing;
    problems.check("billing.stripe_api_base", http_url(&billing.api_base));
    problems.check("billing.return_url", http_url(&billing.return_url));
    if let Err(e) = Mailer::new(&config.mail) {
        let at = match e {
            MailerError::Url(_) => settings.mail.locate_smtp_url(
                &settings.sources,
                crate::mail_settings::smtp_url_from_env().as_deref(),
            ),
            MailerError::From(_) => settings
                .mail
                .locate_mail_from(&settings.billing, &settings.sources),
        };
        problems.found.push(format!("{at}: {e}"));
    }
    problems.check("billing", StripeApi::from_config(billing));
    problems.finish((listen, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_urls_say_what_is_wrong() {
        assert_eq!(socket_address("127.0.0.1:8080"), Ok(()));
        assert_eq!(socket_address("[::1]:0"), Ok(()));
        assert_eq!(socket_address("localhost:8080"), Ok(()));
        for bad in ["x", "127.0.0.1", ":8080", "127.0.0.1:99999"] {
            let err = socket_address(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        assert_eq!(http_url("http://127.0.0.1:7070"), Ok(()));
        assert_eq!(http_url("https://[::1]/"), Ok(()));
        assert!(http_url("127.0.0.1:7070").is_err());
        assert!(http_url("ftp://x").is_err());
        assert_eq!(database_url("sqlite://x.db?mode=rwc"), Ok(()));
        assert!(
            database_url("mysql://u:secret@h/db")
                .unwrap_err()
                .contains("not a database URL")
        );
        assert_eq!(
            database_url("postgres://u:secret@h/db?sslmode=require"),
            Ok(())
        );
        let err = database_url("postgres://u:secret@h/db?sslmode=on").unwrap_err();
        assert!(
            err.contains("`sslmode=on` is not an sslmode") && !err.contains("secret"),
            "{err}"
        );
    }

    /// `text` as the file `wrnexus.toml`, checked as `section` would be.
    fn problems_of(text: &str, section: &str) -> String {
        let settings = Settings::parse_with_env(text, "wrnexus.toml", Vec::new()).unwrap();
        match section {
            "gateway" => gateway(&settings).map(drop),
            _ => control_plane(&settings).map(drop),
        }
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn redis_and_database_tls_settings_name_their_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing-ca.pem").display().to_string();
        let gateway_file = format!(
            "[gateway]\nlisten = \"127.0.0.1:8080\"\ncontrol_plane_url = \"http://127.0.0.1:7070\"\n\
             upstream = \"http://127.0.0.1:3000\"\nredis_url = \"rediss://:pw@cache:6380\"\n\
             redis_ca_file = \"{missing}\"\n"
        );
        let err = problems_of(&gateway_file, "gateway");
        assert!(
            err.contains(&format!(
                "wrnexus.toml:6: `gateway.redis_ca_file`: cannot read `{missing}`"
            )),
            "{err}"
        );
        let insecure = gateway_file
            .replace(
                "rediss://:pw@cache:6380",
                "rediss://:pw@cache:6380/#insecure",
            )
            .replace(&format!("redis_ca_file = \"{missing}\"\n"), "");
        let err = problems_of(&insecure, "gateway");
        assert!(
            err.contains("wrnexus.toml:5: `gateway.redis_url`: `rediss://***@cache:6380/#insecure` asks for `#insecure`"),
            "{err}"
        );
        assert!(!err.contains("pw@"), "{err}");

        let control_plane_file = format!(
            "[control_plane]\nlisten = \"127.0.0.1:7070\"\n\
             database_url = \"postgres://app:pw@db/x?sslmode=verify-full&sslrootcert={missing}\"\n\
             migrate_database_url = \"postgres://owner:pw@db/x?sslmode=verify_full\"\n\
             redis_url = \"redis://cache:6379\"\nredis_ca_file = \"{missing}\"\n"
        );
        let err = problems_of(&control_plane_file, "control_plane");
        assert!(
            err.contains(&format!(
                "wrnexus.toml:3: `control_plane.database_url`: `postgres://***@db/x?sslmode=verify-full&sslrootcert={missing}`: `sslrootcert`: cannot read `{missing}`"
            )),
            "{err}"
        );
        assert!(
            err.contains("wrnexus.toml:4: `control_plane.migrate_database_url`: `postgres://***@db/x?sslmode=verify_full`: `sslmode=verify_full` is not an sslmode"),
            "{err}"
        );
        assert!(
            err.contains("wrnexus.toml:5: `control_plane.redis_url`: `redis_ca_file` is set but `redis://cache:6379` is not a `rediss://` URL"),
            "{err}"
        );
        assert!(!err.contains("pw@"), "{err}");
    }

    #[test]
    fn upstream_settings_name_their_route_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem").display().to_string();
        let head = "[gateway]\nlisten = \"127.0.0.1:8080\"\ncontrol_plane_url = \"http://127.0.0.1:7070\"\n\
                    allow_stale_revocation = true\n";
        let file = format!(
            "{head}\n[[gateway.routes]]\npath_prefix = \"/a\"\n\
             upstream = [\"https://127.0.0.1:1\", \"https://127.0.0.1:2\"]\n\
             ca_file = \"{missing}\"\n\n\
             [[gateway.routes]]\npath_prefix = \"/b\"\nupstream = \"http://127.0.0.1:3\"\n\
             tls_server_name = \"b.internal\"\n\n\
             [[gateway.routes]]\npath_prefix = \"/c\"\nupstream = \"http://127.0.0.1:4\"\n\
             health_check_path = \"healthz\"\n"
        );
        let err = problems_of(&file, "gateway");
        for expected in [
            format!("wrnexus.toml:9: `gateway.routes.0.ca_file`: cannot read `{missing}`"),
            "wrnexus.toml:14: `gateway.routes.1.tls_server_name`: set, but the route's upstreams are http://".to_string(),
            "wrnexus.toml:19: `gateway.routes.2.health_check_path`: `healthz` is not a path".to_string(),
        ] {
            assert!(err.contains(&expected), "{expected}\n---\n{err}");
        }

        // A list mixing schemes names the URL at fault; a bad balance names
        // the values it takes.
        let mixed = format!(
            "{head}[[gateway.routes]]\nupstream = [\n  \"https://a.internal\",\n  \"http://b.internal\",\n]\n"
        );
        let settings = Settings::parse_with_env(&mixed, "wrnexus.toml", Vec::new()).unwrap();
        let err = settings.gateway().unwrap_err().to_string();
        assert!(
            err.starts_with("wrnexus.toml:8: `gateway.routes.0.upstream.1`: `http://b.internal`")
                && err.contains("share one scheme"),
            "{err}"
        );
        let bad_balance =
            format!("{head}[[gateway.routes]]\nupstream = \"http://a:1\"\nbalance = \"random\"\n");
        let err = Settings::parse_with_env(&bad_balance, "wrnexus.toml", Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`gateway.routes.0.balance`: unknown value `random`")
                && err.contains("`least_connections`"),
            "{err}"
        );
    }

    #[test]
    fn routes_read_their_upstream_settings() {
        let text = "[gateway]\nlisten = \"127.0.0.1:8080\"\ncontrol_plane_url = \"http://127.0.0.1:7070\"\n\
                    [[gateway.routes]]\nupstream = [\"http://10.0.0.1:80\", \"http://10.0.0.2:80\"]\n\
                    balance = \"least_connections\"\nprotocol = \"h2\"\nresolve_interval_secs = 5\n\
                    [[gateway.routes]]\npath_prefix = \"/one\"\nupstream = \"https://app.internal\"\n\
                    health_check_path = \"/healthz\"\nhealth_check_interval_ms = \"2s\"\nunhealthy_threshold = 3\n\
                    [[gateway.routes]]\npath_prefix = \"/off\"\nupstream = [\"http://10.0.0.3:80\", \"http://10.0.0.4:80\"]\n\
                    health_check_interval_ms = 0\n";
        let settings = Settings::parse_with_env(text, "t.toml", Vec::new()).unwrap();
        let config = settings.gateway().unwrap();
        let [pair, one, off] = &config.routes[..] else {
            panic!("{:?}", config.routes);
        };
        use wrnexus_gateway::config::{Balance, Protocol};
        assert_eq!(pair.upstreams.len(), 2);
        assert_eq!(pair.reach.balance, Balance::LeastConnections);
        assert_eq!(pair.reach.protocol, Protocol::H2);
        assert_eq!(pair.reach.resolve_interval.as_secs(), 5);
        let checks = pair
            .reach
            .health_check
            .as_ref()
            .expect("several upstreams: checked");
        assert_eq!(
            (checks.path.as_deref(), checks.interval.as_secs()),
            (None, 5)
        );
        assert!(one.upstreams[0].tls && one.upstreams[0].port == 443);
        let checks = one.reach.health_check.as_ref().expect("asked for");
        assert_eq!(checks.path.as_deref(), Some("/healthz"));
        assert_eq!(checks.interval.as_millis(), 2000);
        assert_eq!(
            (checks.unhealthy_threshold, checks.healthy_threshold),
            (3, 2)
        );
        assert!(
            off.reach.health_check.is_none(),
            "interval 0 turns them off"
        );
    }
}
