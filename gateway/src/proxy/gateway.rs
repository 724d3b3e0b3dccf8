//! What the proxy shares across requests.

use crate::authn::keys::KeyRing;
use crate::authn::session::Verifier;
use crate::data::resolve::Resolver;
use crate::data::sockets::OpenSockets;
use crate::key_usage::record::KeyUsage;
use crate::ops::metrics::Metrics;
use crate::ops::request_metrics::{RequestSeries, RouteSeries};
use crate::proxy::ctx::{Ctx, Routed};
use crate::request::routes::RouteTable;
use crate::upstream::forwarded::TrustedProxies;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use wrnexus_policies::PolicyEngine;
use wrnexus_policies::assertion::AssertionKey;

/// Everything the proxy shares across requests.
#[derive(Debug)]
pub struct Gateway {
    pub keys: Arc<KeyRing>,
    pub verifier: Verifier,
    pub resolver: Resolver,
    pub policies: Arc<RwLock<Arc<PolicyEngine>>>,
    /// A candidate set decided beside the live one, never enforced.
    pub shadow: Option<Arc<RwLock<Arc<PolicyEngine>>>>,
    pub metrics: Metrics,
    /// The series each request touches, looked up once.
    pub series: RequestSeries,
    pub cookie_name: String,
    pub routes: RouteTable,
    pub trusted_proxies: TrustedProxies,
    pub control_plane: (SocketAddr, bool, String),
    /// See [`crate::GatewayConfig::workspace_path_prefix`].
    pub workspace_path_prefix: String,
    /// See [`crate::GatewayConfig::require_verified_email`].
    pub require_verified_email: bool,
    pub sockets: Arc<OpenSockets>,
    /// Signs `X-WRNexus-Assertion` when configured, for this audience.
    pub assertion: Option<(AssertionKey, String)>,
    /// API key use, reported in the background.
    pub key_usage: Arc<KeyUsage>,
    /// `Strict-Transport-Security` for responses over TLS, when configured.
    pub hsts: Option<http::HeaderValue>,
    /// Seconds an idle HTTP/1.1 client connection waits for its next
    /// request (see [`crate::GatewayConfig::keepalive_timeout`]).
    pub keepalive_secs: u64,
    /// One line per request, when configured.
    pub access_log: Option<crate::ops::access_log::AccessLog>,
    /// Each sampled request's spans go here, when tracing is on.
    pub tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
}

/// The policy set in force (a poisoned lock still holds the last good one).
pub(crate) fn current(slot: &RwLock<Arc<PolicyEngine>>) -> Arc<PolicyEngine> {
    match slot.read() {
        Ok(p) => p.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

impl Gateway {
    /// `Strict-Transport-Security` for a response to `ctx`'s request: only
    /// over TLS, and only when configured.
    pub(crate) fn hsts_for(&self, ctx: &Ctx) -> Option<&http::HeaderValue> {
        self.hsts.as_ref().filter(|_| ctx.tls)
    }

    /// The name of the request's route: the app route's, `control_plane`,
    /// or `None` before (or without) one.
    pub(crate) fn route_name(&self, routed: Routed) -> Option<&str> {
        match routed {
            Routed::Unrouted => None,
            Routed::ControlPlane => Some("control_plane"),
            Routed::App(index) => self.routes.names().nth(index),
        }
    }

    /// The series of the request's route (labelled by the app route's name,
    /// `control_plane`, or `none`).
    pub(crate) fn route_series(&self, routed: Routed) -> &RouteSeries {
        match routed {
            Routed::ControlPlane => self.series.control_plane(),
            Routed::App(index) => self.series.app(index),
            Routed::Unrouted => self.series.unrouted(),
        }
    }
}
