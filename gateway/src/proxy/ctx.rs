//! What one request carries from phase to phase: its ids and clock, what
//! admission admitted, and what its connection remembers.

use crate::data::remembered::{Remembered, RememberedKey};
use crate::ops::spans::RequestSpans;
use crate::refusal::Outcome;
use crate::request::routes::AppRoute;
use crate::upstream::balance::Lease;
use crate::upstream::identity::Identity;
use crate::upstream::trace_context::TraceContext;
use opentelemetry::KeyValue;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What admission let through: the only way a request reaches an upstream.
#[derive(Debug)]
pub enum Admitted {
    /// Sign-in, switch, API: the control plane authenticates on its own.
    ControlPlane,
    /// A public app route: forwarded without identity.
    Public(Arc<AppRoute>),
    /// An app route, for an identity Cedar allowed there.
    Allowed {
        app: Arc<AppRoute>,
        identity: Arc<Identity>,
        /// A re-issued session cookie for the client (a deep link switched
        /// the workspace).
        set_cookie: Option<String>,
    },
}

impl Admitted {
    pub fn outcome(&self) -> Outcome {
        match self {
            Admitted::ControlPlane => Outcome::ControlPlane,
            Admitted::Public(_) => Outcome::Public,
            Admitted::Allowed { .. } => Outcome::Allow,
        }
    }

    /// The app route, unless bound for the control plane.
    pub fn app(&self) -> Option<&Arc<AppRoute>> {
        match self {
            Admitted::ControlPlane => None,
            Admitted::Public(app) | Admitted::Allowed { app, .. } => Some(app),
        }
    }
}

/// Which series a request counts in: its route, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    Unrouted,
    ControlPlane,
    /// The app route's place in the table.
    App(usize),
}

/// Per-request state.
#[derive(Debug)]
pub struct Ctx {
    pub request_id: String,
    /// The W3C trace this request belongs to (set with the request id).
    pub trace: Option<TraceContext>,
    /// The trace id, 32 lowercase hex digits, as logs and refusals show it
    /// (set with the request id).
    pub trace_id: Option<String>,
    /// What admission let through; `None` until (and unless) it did.
    pub admitted: Option<Admitted>,
    /// What the request came to, as the metrics label it.
    pub outcome: Outcome,
    pub routed: Routed,
    /// When the request was let through to an upstream, to time its answer.
    pub upstream_started: Option<Instant>,
    /// The request counted in flight against its upstream address, until
    /// this context is dropped (the request ended, however it ended).
    pub lease: Option<Lease>,
    /// Connections to the route's addresses that failed for this request
    /// (each retried on another address while there is one).
    pub connect_failures: usize,
    /// Whether `in_flight` counts this request.
    pub counted: bool,
    /// Set when an upgraded connection must close.
    pub cut: Option<Arc<AtomicBool>>,
    /// The peer's address.
    pub client_ip: Option<IpAddr>,
    /// The client came over TLS (to this gateway, not to a proxy before it).
    pub tls: bool,
    /// When the request arrived (its header read; monotonic, for timings
    /// and the age of cached data)…
    pub started: Instant,
    /// …and in Unix seconds (for expiries).
    pub unix_secs: i64,
    /// What this connection's last session request resolved…
    pub remembered: Option<Arc<Remembered>>,
    /// …and its last API key request.
    pub remembered_key: Option<Arc<RememberedKey>>,
    /// The session cookie was the request's only cookie.
    pub session_cookie_alone: bool,
    /// What the access log line says beyond the fields above.
    pub access: crate::ops::access_notes::AccessNotes,
    /// The `traceparent` for the upstream chosen (set when chosen).
    pub upstream_traceparent: Option<String>,
    /// The request's spans, when tracing is on and its trace sampled.
    pub spans: Option<Box<RequestSpans>>,
}

impl Ctx {
    pub fn new() -> Self {
        Ctx {
            request_id: String::new(),
            trace: None,
            trace_id: None,
            admitted: None,
            outcome: Outcome::None,
            routed: Routed::Unrouted,
            upstream_started: None,
            lease: None,
            connect_failures: 0,
            counted: false,
            cut: None,
            client_ip: None,
            tls: false,
            started: Instant::now(),
            unix_secs: 0,
            remembered: None,
            remembered_key: None,
            session_cookie_alone: false,
            access: crate::ops::access_notes::AccessNotes::default(),
            upstream_traceparent: None,
            spans: None,
        }
    }

    /// Now, when the request's phases are traced (the start of one).
    pub fn mark(&self) -> Option<Instant> {
        self.spans.as_ref().map(|_| Instant::now())
    }

    /// Record the phase `name` that began at `from` (see [`Ctx::mark`]) and
    /// ends now, with the `attributes` it computes.
    pub fn phase(
        &self,
        name: &'static str,
        from: Option<Instant>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) {
        if let (Some(spans), Some(from)) = (&self.spans, from) {
            spans.phase(name, from, attributes());
        }
    }

    /// What admission admitted: every phase after it starts from here.
    /// pingora runs them only after an admission; without one, fail closed.
    pub fn admitted(&self) -> pingora::Result<&Admitted> {
        self.admitted
            .as_ref()
            .ok_or_else(crate::refusal::Refusal::no_admission)
    }
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::new()
    }
}
