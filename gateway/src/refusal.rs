//! Every response the gateway makes itself (design §7): one type, naming
//! whose fault it is, mapped here and nowhere else to a status, a stable
//! `code` and an RFC 9457 problem+json body carrying the request id — or,
//! for a browser without a session, a redirect to sign-in.

use crate::authn::api_key::KeyError;
use crate::authn::session::AuthnError;
use crate::request::framing::FramingError;
use bytes::Bytes;
use http::HeaderMap;
use http::header::ACCEPT;
use pingora::{Error, ErrorSource, ErrorType};
use wrnexus_contract::headers;
use wrnexus_contract::problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemCode};
use wrnexus_policies::redirect::encode_query_value;

/// The sign-in page, served by the control plane through the gateway.
pub const SIGNIN_PATH: &str = "/.wrnexus/signin";
/// The page that sends a person a new email verification link.
pub const VERIFY_EMAIL_PATH: &str = "/.wrnexus/verify-email";
/// The header naming a decision.
pub const DECISION_ID_HEADER: &str = headers::DECISION_ID;
/// The trace id of a refused request (also `trace_id` in the problem).
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// Whose fault a refusal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request: what it asked, or who asked it.
    Client,
    /// The app behind the gateway (or the way to it).
    Upstream,
    /// The gateway itself, or the data it decides with.
    Internal,
}

/// What a request's handling came to, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing decided yet (the request failed before admission ended).
    None,
    /// For the control plane, which authenticates on its own.
    ControlPlane,
    /// A public app route.
    Public,
    Allow,
    Deny,
    /// A fault on the gateway's side, or a policy that failed to evaluate.
    Error,
    BadRequest,
    NoRoute,
    Unauthenticated,
}

impl Outcome {
    /// The `decision` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::None => "none",
            Outcome::ControlPlane => "control_plane",
            Outcome::Public => "public",
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Error => "error",
            Outcome::BadRequest => "bad_request",
            Outcome::NoRoute => "no_route",
            Outcome::Unauthenticated => "unauthenticated",
        }
    }
}

/// Why Cedar's deny is a deny, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    NotAMember,
    WorkspaceReadOnly,
    ApiKeyWrongWorkspace,
    /// The membership (or key) is limited to other projects.
    ProjectNotGranted,
    /// The project is archived: reads only.
    ProjectArchived,
    /// A policy requires a verified email and the person's is not.
    EmailUnverified,
    /// The workspace requires its own IdP and the session was not signed
    /// in through it; `sign_in_url` signs in there and comes back,
    /// `browser`: answered with a page carrying it.
    SsoRequired {
        sign_in_url: String,
        browser: bool,
    },
    /// The session is older than the workspace allows; `sign_in_url`
    /// signs in again and comes back.
    ReauthenticationRequired {
        sign_in_url: String,
        browser: bool,
    },
    /// The session was signed in with a method the workspace does not allow.
    SignInMethodNotAllowed,
    /// The role may not take the action.
    Role {
        role: String,
        action: String,
    },
}

/// A response the gateway makes without the upstream's say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Framing(FramingError),
    /// A path (or workspace segment) an app could read otherwise.
    #[error("{0}")]
    AmbiguousPath(String),
    #[error("no app is served at this address")]
    NoRoute,
    #[error("{0}")]
    Authn(AuthnError),
    /// No valid session, from a browser asking for a page: sign in, then
    /// come back to this path and query.
    #[error("sign in first")]
    SignIn { return_to: String },
    #[error("{0}")]
    ApiKey(KeyError),
    /// A cookie-authenticated write from another origin, and why.
    #[error("a cookie-authenticated write from another site: {0}")]
    CrossOrigin(String),
    /// A workspace path naming one the user is no member of.
    #[error("no such workspace")]
    NoSuchWorkspace,
    /// The request names a project its workspace does not have.
    #[error("no such project in this workspace")]
    NoSuchProject,
    /// The route decides on a project and the request names none.
    #[error("this address needs a project and the request names none")]
    ProjectRequired,
    /// Cedar did not allow it; `errors`: a policy failed to evaluate.
    #[error("{}", deny_detail(.reason))]
    Denied {
        reason: DenyReason,
        decision_id: String,
        errors: bool,
    },
    /// The deployment requires a verified email and the person's is not;
    /// `browser`: answered with a page offering a new link.
    #[error(
        "verify your email address first: use the link mailed to you, or ask for a new one at /.wrnexus/verify-email"
    )]
    EmailUnverified { browser: bool },
    #[error("the verified identity cannot be forwarded; nothing was sent to the app")]
    IdentityUnforwardable,
    #[error("authorization data is unavailable; try again shortly")]
    BackendUnavailable,
    #[error("the app could not be reached; nothing was decided differently, try again")]
    UpstreamUnreachable,
    #[error("the app did not answer in time")]
    UpstreamTimeout,
    /// Every address of the route is failing its health checks.
    #[error(
        "the app is unavailable: none of its addresses passes its health checks; try again shortly"
    )]
    UpstreamUnavailable,
    /// An upgraded connection's access was taken away.
    #[error("access changed: the upgraded connection was closed")]
    AccessChanged,
    #[error("the request could not be read")]
    BadRequest,
    #[error("the gateway failed to handle the request")]
    Internal,
}

fn deny_detail(reason: &DenyReason) -> String {
    match reason {
        DenyReason::NotAMember => "you are not a member of this workspace".into(),
        DenyReason::WorkspaceReadOnly => "this workspace is suspended and read-only".into(),
        DenyReason::ApiKeyWrongWorkspace => "an API key acts only in its own workspace".into(),
        DenyReason::ProjectNotGranted => "your access is limited to other projects".into(),
        DenyReason::ProjectArchived => "this project is archived and read-only".into(),
        DenyReason::EmailUnverified => {
            "this workspace requires a verified email address; use the link mailed to you".into()
        }
        DenyReason::SsoRequired { .. } => {
            "this workspace requires signing in through its own identity provider".into()
        }
        DenyReason::ReauthenticationRequired { .. } => {
            "this workspace requires a more recent sign-in; sign in again".into()
        }
        DenyReason::SignInMethodNotAllowed => {
            "this workspace does not allow the way this session signed in; sign in another way"
                .into()
        }
        DenyReason::Role { role, action } => format!("your role `{role}` may not `{action}` here"),
    }
}

impl Refusal {
    /// Whose fault it is.
    pub fn side(&self) -> Side {
        match self {
            Refusal::IdentityUnforwardable | Refusal::BackendUnavailable | Refusal::Internal => {
                Side::Internal
            }
            Refusal::UpstreamUnreachable
            | Refusal::UpstreamTimeout
            | Refusal::UpstreamUnavailable => Side::Upstream,
            _ => Side::Client,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Refusal::Framing(_)
            | Refusal::AmbiguousPath(_)
            | Refusal::Authn(AuthnError::DuplicateCookie)
            | Refusal::BadRequest
            | Refusal::ProjectRequired => 400,
            Refusal::AccessChanged => 403,
            Refusal::Authn(_) | Refusal::ApiKey(_) => 401,
            Refusal::SignIn { .. } => 302,
            Refusal::CrossOrigin(_) | Refusal::Denied { .. } | Refusal::EmailUnverified { .. } => {
                403
            }
            Refusal::NoRoute | Refusal::NoSuchWorkspace | Refusal::NoSuchProject => 404,
            Refusal::IdentityUnforwardable | Refusal::Internal => 500,
            Refusal::UpstreamUnreachable => 502,
            Refusal::BackendUnavailable => 503,
            Refusal::UpstreamTimeout => 504,
            Refusal::UpstreamUnavailable => 503,
        }
    }

    /// The stable, machine-readable `code`.
    pub fn code(&self) -> ProblemCode {
        match self {
            Refusal::Framing(FramingError::LengthAndChunked | FramingError::ConflictingLengths) => {
                ProblemCode::ConflictingFraming
            }
            Refusal::Framing(FramingError::ConflictingHost) => ProblemCode::ConflictingHost,
            Refusal::Framing(FramingError::DuplicateAuthorization) => {
                ProblemCode::DuplicateAuthorization
            }
            Refusal::AmbiguousPath(_) => ProblemCode::AmbiguousPath,
            Refusal::NoRoute => ProblemCode::NoRoute,
            Refusal::Authn(AuthnError::Missing) | Refusal::SignIn { .. } => {
                ProblemCode::Unauthenticated
            }
            Refusal::Authn(AuthnError::DuplicateCookie) => ProblemCode::DuplicateSessionCookie,
            Refusal::Authn(AuthnError::Invalid | AuthnError::UnknownKey) => {
                ProblemCode::InvalidSession
            }
            Refusal::Authn(AuthnError::Revoked) => ProblemCode::SessionRevoked,
            Refusal::ApiKey(_) => ProblemCode::InvalidApiKey,
            Refusal::CrossOrigin(_) => ProblemCode::CsrfRejected,
            Refusal::NoSuchWorkspace => ProblemCode::NotFound,
            Refusal::NoSuchProject => ProblemCode::NoSuchProject,
            Refusal::ProjectRequired => ProblemCode::ProjectRequired,
            Refusal::Denied { reason, .. } => match reason {
                DenyReason::NotAMember => ProblemCode::NotAMember,
                DenyReason::WorkspaceReadOnly => ProblemCode::WorkspaceReadOnly,
                DenyReason::ApiKeyWrongWorkspace => ProblemCode::ApiKeyWrongWorkspace,
                DenyReason::ProjectNotGranted => ProblemCode::ProjectNotGranted,
                DenyReason::ProjectArchived => ProblemCode::ProjectArchived,
                DenyReason::EmailUnverified => ProblemCode::EmailUnverified,
                DenyReason::SsoRequired { .. } => ProblemCode::SsoRequired,
                DenyReason::ReauthenticationRequired { .. } => {
                    ProblemCode::ReauthenticationRequired
                }
                DenyReason::SignInMethodNotAllowed => ProblemCode::SignInMethodNotAllowed,
                DenyReason::Role { .. } => ProblemCode::Forbidden,
            },
            Refusal::EmailUnverified { .. } => ProblemCode::EmailUnverified,
            Refusal::IdentityUnforwardable => ProblemCode::IdentityUnforwardable,
            Refusal::BackendUnavailable => ProblemCode::BackendUnavailable,
            Refusal::UpstreamUnreachable => ProblemCode::UpstreamUnreachable,
            Refusal::UpstreamTimeout => ProblemCode::UpstreamTimeout,
            Refusal::UpstreamUnavailable => ProblemCode::UpstreamUnavailable,
            Refusal::AccessChanged => ProblemCode::AccessChanged,
            Refusal::BadRequest => ProblemCode::BadRequest,
            Refusal::Internal => ProblemCode::Internal,
        }
    }

    /// What the request came to, for the metrics.
    pub fn outcome(&self) -> Outcome {
        match self {
            Refusal::Framing(_)
            | Refusal::AmbiguousPath(_)
            | Refusal::BadRequest
            | Refusal::ProjectRequired => Outcome::BadRequest,
            Refusal::NoRoute => Outcome::NoRoute,
            Refusal::Authn(_) | Refusal::SignIn { .. } | Refusal::ApiKey(_) => {
                Outcome::Unauthenticated
            }
            Refusal::CrossOrigin(_)
            | Refusal::EmailUnverified { .. }
            | Refusal::NoSuchWorkspace
            | Refusal::NoSuchProject
            | Refusal::AccessChanged => Outcome::Deny,
            Refusal::Denied { errors, .. } => {
                if *errors {
                    Outcome::Error
                } else {
                    Outcome::Deny
                }
            }
            Refusal::IdentityUnforwardable
            | Refusal::BackendUnavailable
            | Refusal::UpstreamUnreachable
            | Refusal::UpstreamTimeout
            | Refusal::UpstreamUnavailable
            | Refusal::Internal => Outcome::Error,
        }
    }

    /// The response, as written to the client.
    pub fn reply(&self, request_id: &str) -> Reply {
        self.reply_traced(request_id, None)
    }

    /// The response, with the request's trace id (`trace_id` in the
    /// problem and `x-trace-id`), so a refusal leads to its spans.
    pub fn reply_traced(&self, request_id: &str, trace_id: Option<&str>) -> Reply {
        if let Refusal::SignIn { return_to } = self {
            return Reply::to_signin(return_to);
        }
        if let Refusal::EmailUnverified { browser: true } = self {
            return Reply::verify_email(request_id);
        }
        let sign_in = self.sign_in_url();
        if let (Some((url, true)), Refusal::Denied { decision_id, .. }) = (sign_in, self) {
            let title = match self.code() {
                ProblemCode::SsoRequired => "Sign in with your organization",
                _ => "Sign in again",
            };
            return Reply::sign_in_page(title, &self.to_string(), url, request_id, decision_id);
        }
        let status = self.status();
        let decision_id = match self {
            Refusal::Denied { decision_id, .. } => Some(decision_id.as_str()),
            _ => None,
        };
        let title = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let mut problem = Problem::new(status, title, self.code(), self.to_string());
        problem.request_id = Some(request_id.to_string());
        problem.decision_id = decision_id.map(str::to_string);
        problem.trace_id = trace_id.map(str::to_string);
        problem.sign_in_url = sign_in.map(|(url, _)| url.to_string());
        let mut headers = vec![
            ("content-type", PROBLEM_CONTENT_TYPE.to_string()),
            (headers::REQUEST_ID, request_id.to_string()),
        ];
        if let Some(trace_id) = trace_id {
            headers.push((TRACE_ID_HEADER, trace_id.to_string()));
        }
        if let Some(id) = decision_id {
            headers.push((DECISION_ID_HEADER, id.to_string()));
        }
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        Reply {
            status,
            headers,
            body: Bytes::from(body),
        }
    }
}

impl Refusal {
    /// The link a refusal of the sign-in policy carries, and whether the
    /// client is a browser (answered with a page).
    pub fn sign_in_url(&self) -> Option<(&str, bool)> {
        match self {
            Refusal::Denied {
                reason:
                    DenyReason::SsoRequired {
                        sign_in_url,
                        browser,
                    }
                    | DenyReason::ReauthenticationRequired {
                        sign_in_url,
                        browser,
                    },
                ..
            } => Some((sign_in_url, *browser)),
            _ => None,
        }
    }
}

/// The error type of a refusal raised inside pingora's phases.
const ACCESS_CHANGED: ErrorType = ErrorType::Custom("access_changed");
const NO_ADMISSION: ErrorType = ErrorType::Custom("no_admission");
const UPSTREAM_UNAVAILABLE: ErrorType = ErrorType::Custom("upstream_unavailable");

impl Refusal {
    /// An upgraded connection cut, as the error that ends it.
    pub fn access_changed() -> Box<Error> {
        Error::explain(ACCESS_CHANGED, "access changed: upgraded connection closed")
    }

    /// A phase after admission found no admission: fail closed.
    pub fn no_admission() -> Box<Error> {
        Error::explain(NO_ADMISSION, "no admission recorded: nothing is forwarded")
    }

    /// Every address of the route is out of balance: nothing to forward to.
    pub fn upstream_unavailable() -> Box<Error> {
        Error::explain(
            UPSTREAM_UNAVAILABLE,
            "every upstream address is failing its health checks",
        )
    }

    /// What an error that ended a request is to the client; `None` when
    /// the client is gone and nothing can be answered.
    pub fn of_proxy_error(e: &Error) -> Option<Refusal> {
        use ErrorType::*;
        match (e.etype(), e.esource()) {
            (t, _) if *t == ACCESS_CHANGED => Some(Refusal::AccessChanged),
            (t, _) if *t == NO_ADMISSION => Some(Refusal::Internal),
            (t, _) if *t == UPSTREAM_UNAVAILABLE => Some(Refusal::UpstreamUnavailable),
            (ConnectTimedout | ReadTimedout | WriteTimedout, ErrorSource::Upstream) => {
                Some(Refusal::UpstreamTimeout)
            }
            (_, ErrorSource::Upstream) => Some(Refusal::UpstreamUnreachable),
            (ReadError | WriteError | ConnectionClosed, ErrorSource::Downstream) => None,
            (_, ErrorSource::Downstream) => Some(Refusal::BadRequest),
            (HTTPStatus(status), _) if (400..500).contains(status) => Some(Refusal::BadRequest),
            _ => Some(Refusal::Internal),
        }
    }
}

/// A response the gateway writes without asking the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    /// 403 for a browser whose person has not verified their email: a page
    /// pointing to the one that sends a new link.
    fn verify_email(request_id: &str) -> Self {
        let body = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"color-scheme\" content=\"light dark\">\
             <title>Verify your email</title></head>\n<body>\
             <main><h1>Verify your email</h1>\
             <p>This app needs a verified email address. Use the link mailed to you, \
             or <a href=\"{VERIFY_EMAIL_PATH}\">ask for a new one</a>.</p></main>\
             </body></html>\n"
        );
        Reply {
            status: 403,
            headers: vec![
                ("content-type", "text/html; charset=utf-8".to_string()),
                ("cache-control", "no-store".to_string()),
                (headers::REQUEST_ID, request_id.to_string()),
            ],
            body: Bytes::from(body),
        }
    }

    /// 302 to the sign-in page, coming back to `path_and_query` afterwards.
    fn to_signin(path_and_query: &str) -> Self {
        let location = format!(
            "{SIGNIN_PATH}?return_to={}",
            encode_query_value(path_and_query)
        );
        Reply {
            status: 302,
            headers: vec![
                ("location", location),
                ("content-type", "text/plain; charset=utf-8".to_string()),
                ("cache-control", "no-store".to_string()),
            ],
            body: Bytes::from_static(b"sign in first\n"),
        }
    }
}

/// Whether the client is a browser asking for a page.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

#[path = "refusal_sign_in.rs"]
pub mod sign_in;

#[cfg(test)]
#[path = "refusal_tests.rs"]
mod tests;
