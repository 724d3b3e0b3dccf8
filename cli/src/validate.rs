//! Every check a start makes, in one place: `wrnexus gateway` and
//! `wrnexus control-plane` run them before starting anything, and
//! `wrnexus config check` runs the same without starting. Each problem
//! names where its value came from (file, line and key, or the variable);
//! all of them are reported at once.

use crate::settings::Settings;
use anyhow::{Result, anyhow};
use std::fmt::Display;
use std::net::{SocketAddr, ToSocketAddrs};
use wrnexus_control_plane::ControlPlaneConfig;
use wrnexus_control_plane::billing::mailer::Mailer;
use wrnexus_control_plane::billing::stripe_api::StripeApi;
use wrnexus_gateway::GatewayConfig;
use wrnexus_gateway::request::routes::RouteTable;
use wrnexus_gateway::upstream::forwarded::TrustedProxies;
use wrnexus_policies::PolicySource;
use wrnexus_policies::reload::load_checked;

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

/// A Redis URL, read by the Redis client itself (nothing is connected).
fn redis_url(text: &str) -> Result<(), String> {
    redis::Client::open(text)
        .map(drop)
        .map_err(|e| format!("`{text}` is not a Redis URL like redis://127.0.0.1:6379: {e}"))
}

/// A database URL the control plane can open.
fn database_url(text: &str) -> Result<(), String> {
    wrnexus_control_plane::store::backend_of(text)
        .map(drop)
        .map_err(|_| {
            format!(
                "`{}` is not a database URL: it must start with postgres:// or sqlite:",
                wrnexus_control_plane::store::redact_url(text)
            )
        })
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
    if let Some(url) = &config.redis_url {
        problems.check("gateway.redis_url", redis_url(url));
    }
    problems.check(
        "gateway.trusted_proxies",
        TrustedProxies::parse(&config.trusted_proxies),
    );
    let live_key = policy_key(&config.policies, "policies.dir");
    let policies = problems.check(
        &live_key,
        load_checked(&config.policies).map_err(|e| format!("the policies fail their checks:\n{e}")),
    );
    let shadow = match &config.shadow_policies {
        Some(source) => problems.check(
            "policies.shadow_dir",
            load_checked(source).map_err(|e| format!("the policies fail their checks:\n{e}")),
        ),
        None => None,
    };
    if let Some(policies) = &policies {
        let routes = problems.check(
            "gateway.routes",
            RouteTable::build(
                config.effective_routes(),
                |action| policies.knows_action(action),
                |upstream| upstream.address().to_socket_addrs().ok()?.next(),
            ),
        );
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

/// Every check `wrnexus control-plane` makes before it connects: the
/// `[control_plane]` section read (trusted proxies, webhook networks, page
/// templates), its address and URLs, the policy set, and billing's mail
/// and Stripe settings.
pub fn control_plane(settings: &Settings) -> Result<(String, ControlPlaneConfig)> {
    let (listen, config) = settings.control_plane()?;
    let mut problems = Problems::new(settings);
    problems.check("control_plane.listen", socket_address(&listen));
    problems.check(
        "control_plane.database_url",
        database_url(&config.database_url),
    );
    if let Some(url) = &config.migrate_database_url {
        problems.check("control_plane.migrate_database_url", database_url(url));
    }
    if let Some(url) = &config.redis_url {
        problems.check("control_plane.redis_url", redis_url(url));
    }
    problems.check(
        &policy_key(&config.policies, "policies.dir"),
        load_checked(&config.policies).map_err(|e| format!("the policies fail their checks:\n{e}")),
    );
    let billing = &config.billing;
    problems.check("billing.stripe_api_base", http_url(&billing.api_base));
    problems.check("billing.return_url", http_url(&billing.return_url));
    if let Err(e) = Mailer::new(billing.smtp_url.as_deref(), &billing.mail_from) {
        problems.check(e.key(), Err::<(), _>(e));
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
        assert_eq!(redis_url("redis://127.0.0.1:6379"), Ok(()));
        assert!(redis_url("http://127.0.0.1:6379").is_err());
        assert_eq!(database_url("sqlite://x.db?mode=rwc"), Ok(()));
        assert!(
            database_url("mysql://u:secret@h/db")
                .unwrap_err()
                .contains("not a database URL")
        );
    }
}
