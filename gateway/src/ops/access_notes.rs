//! What a request's phases note down for its access log line, beyond what
//! the context keeps anyway: cheap copies, taken whether or not the log is on.

/// The kind of credential a request presented (not whether it held).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Credential {
    /// None presented (or none needed: public routes, the control plane).
    #[default]
    Anonymous,
    Session,
    ApiKey,
}

impl Credential {
    /// The `principal` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Anonymous => "anonymous",
            Credential::Session => "session",
            Credential::ApiKey => "api_key",
        }
    }
}

/// Per-request notes for the access log.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessNotes {
    /// The refusal's problem code, when the gateway refused the request.
    pub cause: Option<&'static str>,
    pub credential: Credential,
    /// From the request's arrival to its decision, in microseconds.
    pub decision_us: Option<u64>,
    /// From the decision to the upstream's response header, in milliseconds.
    pub upstream_ms: Option<f64>,
}
