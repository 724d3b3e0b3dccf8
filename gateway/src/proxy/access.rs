//! The access log line of a finished request, from its session and
//! context (only when the access log is on).

use crate::ops::access_line::{AccessLine, Finished};
use crate::proxy::ctx::{Admitted, Ctx};
use crate::proxy::gateway::Gateway;
use crate::upstream::forwarded::TrustedProxies;
use http::HeaderMap;
use pingora::prelude::Session;
use std::net::IpAddr;
use std::time::SystemTime;

impl Gateway {
    /// Write `ctx`'s line, if the access log is on.
    pub(super) fn log_access(&self, session: &Session, ctx: &Ctx, status: u16) {
        let Some(log) = &self.access_log else {
            return;
        };
        let req = session.req_header();
        let identity = match &ctx.admitted {
            Some(Admitted::Allowed { identity, .. }) => Some((
                identity.workspace_id.as_str(),
                identity.project.as_ref().map(|(id, _)| id.as_str()),
                &identity.principal,
            )),
            _ => None,
        };
        let route = self.route_name(ctx.routed);
        let took = ctx.started.elapsed();
        log.record(&AccessLine::of(&Finished {
            req,
            request_id: &ctx.request_id,
            trace_id: ctx.trace_id.as_deref(),
            route,
            status,
            decision: ctx.outcome.as_str(),
            notes: ctx.access,
            identity,
            client_ip: real_client(&req.headers, ctx.client_ip, &self.trusted_proxies),
            bytes_in: session.body_bytes_read(),
            bytes_out: session.body_bytes_sent(),
            arrived: SystemTime::now()
                .checked_sub(took)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            took,
        }));
    }
}

/// The client behind trusted proxies: `X-Forwarded-For` read from the
/// right, past every address that is itself a trusted proxy (a chain of
/// load balancers), to the first one that is not; the peer itself when it
/// is not trusted.
fn real_client(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    if !trusted.trusts(peer) {
        return peer;
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    chain
        .iter()
        .rev()
        .find(|a| !trusted.trusts(Some(**a)))
        .or(chain.first())
        .copied()
        .or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_a_trusted_proxy() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.9".parse().unwrap(),
        );
        let proxy = "10.0.0.2".parse().ok();
        let stranger = "192.0.2.5".parse().ok();
        assert_eq!(
            real_client(&headers, proxy, &trusted),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(real_client(&headers, stranger, &trusted), stranger);
        assert_eq!(real_client(&HeaderMap::new(), proxy, &trusted), proxy);
        // Two load balancers: the second's own address is skipped.
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.9, 10.0.0.7".parse().unwrap(),
        );
        assert_eq!(
            real_client(&headers, proxy, &trusted),
            "203.0.113.9".parse().ok()
        );
        // Only proxies in the chain: the first of them.
        headers.insert("x-forwarded-for", "10.0.0.9, 10.0.0.7".parse().unwrap());
        assert_eq!(
            real_client(&headers, proxy, &trusted),
            "10.0.0.9".parse().ok()
        );
    }
}
