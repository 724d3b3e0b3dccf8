//! Checking a webhook URL's target against the [`TargetPolicy`]: once when
//! an endpoint is created, and again at every delivery, where the worker's
//! HTTP client resolves names through [`CheckedResolver`] so that the
//! addresses checked are the very ones it connects to (a name may resolve
//! differently later: DNS rebinding).

use crate::webhook_target::{TargetForbidden, TargetPolicy};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long a name may take to resolve when an endpoint is created.
const CREATE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The address a URL names literally (`http://10.0.0.1/`, `http://[::1]/`,
/// and every spelling the URL parser reads as one, e.g. `http://2130706433/`).
pub fn literal_host(url: &Url) -> Option<IpAddr> {
    // The parser has already normalised every IPv4 spelling to dotted
    // decimal, and IPv6 to its bracketed form; a domain never parses here.
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Check a URL before it is stored: a literal address, or every address its
/// host resolves to now. A name that does not resolve (yet) passes: every
/// delivery checks again before it connects. A URL that does not parse
/// passes too, for the store to refuse with its own message.
pub async fn check_new_target(url: &str, policy: &TargetPolicy) -> Result<(), TargetForbidden> {
    let Ok(parsed) = Url::parse(url.trim()) else {
        return Ok(());
    };
    if let Some(ip) = literal_host(&parsed) {
        return policy.check(None, ip);
    }
    let Some(host) = parsed.host_str() else {
        return Ok(());
    };
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(CREATE_LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => {
            for addr in addrs {
                policy.check(Some(host), addr.ip())?;
            }
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::info!(host, error = %e, "webhook host does not resolve yet; checked at delivery");
            Ok(())
        }
        Err(_) => {
            tracing::info!(host, "webhook host lookup timed out; checked at delivery");
            Ok(())
        }
    }
}

/// The webhook client's resolver: resolves a name and hands the connector
/// its addresses only if every one of them passes the policy.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    policy: Arc<TargetPolicy>,
}

impl CheckedResolver {
    pub fn new(policy: Arc<TargetPolicy>) -> Self {
        CheckedResolver { policy }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                policy.check(Some(&host), addr.ip())?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The policy refusal somewhere in an error's chain, if that is why it failed.
pub fn forbidden_in<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a TargetForbidden> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(forbidden) = e.downcast_ref::<TargetForbidden>() {
            return Some(forbidden);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook_target::{AddressClass, parse_networks};

    #[tokio::test]
    async fn literal_spellings_are_checked() {
        let policy = TargetPolicy::default();
        for (url, class) in [
            ("http://2130706433/hook", AddressClass::Loopback),
            ("http://0x7f.1/hook", AddressClass::Loopback),
            ("http://0177.0.0.1/hook", AddressClass::Loopback),
            ("http://[::ffff:7f00:1]/hook", AddressClass::Loopback),
            ("http://0/hook", AddressClass::Unspecified),
        ] {
            let refused = check_new_target(url, &policy).await;
            assert_eq!(refused.map_err(|e| e.class), Err(class), "{url}");
        }
    }

    #[tokio::test]
    async fn names_are_resolved_and_checked() {
        let refused = check_new_target("http://localhost:9/hook", &TargetPolicy::default()).await;
        assert_eq!(refused.map_err(|e| e.class), Err(AddressClass::Loopback));
        let allowed = TargetPolicy::new(parse_networks(&["127.0.0.0/8", "::1/128"]).unwrap());
        assert_eq!(
            check_new_target("http://localhost:9/hook", &allowed).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_of_a_forbidden_address() {
        let resolver = CheckedResolver::new(Arc::new(TargetPolicy::default()));
        let Err(e) = resolver.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost resolved");
        };
        let forbidden = forbidden_in(e.as_ref()).unwrap();
        assert_eq!(forbidden.class, AddressClass::Loopback);
        assert_eq!(forbidden.host.as_deref(), Some("localhost"));
    }
}
