//! Error answers: RFC 9457 problem+json bodies (design §7) and the stable,
//! machine-readable `code` each one carries. Clients branch on `code`,
//! never on `title` or `detail`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The media type of every problem body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// `type` of a problem is this followed by its `code`.
pub const PROBLEM_TYPE_PREFIX: &str = "/.wrnexus/problems/";

/// The `type` of a problem with `code`: `/.wrnexus/problems/<code>`.
pub fn problem_type(code: &str) -> String {
    format!("{PROBLEM_TYPE_PREFIX}{code}")
}

/// An RFC 9457 problem: every error answer, as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// `/.wrnexus/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable, e.g. `missing_field`, `not_found`.
    pub code: String,
    /// One sentence for people.
    pub detail: String,
    /// The offending input field, for 400s about one field (a JSON value of
    /// the wrong type is named by its path in the body, e.g. `role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request id, on the answers the gateway makes itself (also in
    /// `x-request-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The policy decision behind a 403 (also in `x-wrnexus-decision-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The W3C trace id (32 hex digits) of the request, where it was
    /// traced (also in `x-trace-id` on the gateway's answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Where to sign in (again) and come back to the refused request: with
    /// `sso_required` and `reauthentication_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_url: Option<String>,
}

impl Problem {
    /// A problem with `status`, its reason phrase `title`, `code` and
    /// `detail`; no field, request or decision id.
    pub fn new(
        status: u16,
        title: impl Into<String>,
        code: ProblemCode,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            kind: problem_type(code.as_str()),
            title: title.into(),
            status,
            code: code.as_str().to_string(),
            detail: detail.into(),
            field: None,
            request_id: None,
            decision_id: None,
            trace_id: None,
            sign_in_url: None,
        }
    }

    /// The code, when it is one this version of the contract knows.
    pub fn known_code(&self) -> Option<ProblemCode> {
        self.code.parse().ok()
    }
}

/// Defines [`ProblemCode`] from one list: variant, wire string, meaning.
macro_rules! problem_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal,)+) => {
        /// Every stable `code` the gateway, the control plane and apps
        /// using the SDK answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProblemCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ProblemCode {
            /// Every code, in the order of the list.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant,)+];

            /// The wire string, e.g. `not_found`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $code,)+
                }
            }
        }
    };
}

problem_codes! {
    // Answered by the gateway and the control plane alike.
    /// 401: no session cookie, session token or API key.
    Unauthenticated = "unauthenticated",
    /// 401: the API key is unknown, revoked or expired.
    InvalidApiKey = "invalid_api_key",
    /// 403: the policies refused (with `decision_id`).
    Forbidden = "forbidden",
    /// 403: the workspace is suspended: reads (and billing) only.
    WorkspaceReadOnly = "workspace_read_only",
    /// 403: an API key acts only in its own workspace.
    ApiKeyWrongWorkspace = "api_key_wrong_workspace",
    /// Gateway 403: not a member of the workspace. Control plane 400:
    /// `user_id` names no member of the workspace.
    NotAMember = "not_a_member",
    /// 403: a cookie-authenticated write from another site.
    CsrfRejected = "csrf_rejected",
    /// 404: no such thing, or not visible to the caller.
    NotFound = "not_found",

    // Answered by the gateway.
    /// 404: no app is served at this host and path.
    NoRoute = "no_route",
    /// 400: more than one session cookie.
    DuplicateSessionCookie = "duplicate_session_cookie",
    /// 401: the session cookie is malformed, badly signed or expired.
    InvalidSession = "invalid_session",
    /// 401: the session was signed out or revoked.
    SessionRevoked = "session_revoked",
    /// 400: a path an app could read differently from the gateway.
    AmbiguousPath = "ambiguous_path",
    /// 400: `Content-Length` and `Transfer-Encoding`, or two lengths.
    ConflictingFraming = "conflicting_framing",
    /// 400: more than one `Authorization` header.
    DuplicateAuthorization = "duplicate_authorization",
    /// 400: an HTTP/2 request whose `:authority` and `Host` name different
    /// hosts (or several `Host` headers).
    ConflictingHost = "conflicting_host",
    /// 500: the verified identity cannot be written as headers.
    IdentityUnforwardable = "identity_unforwardable",
    /// 503: the decision data cannot be had (Redis or control plane).
    BackendUnavailable = "backend_unavailable",
    /// 502: the app could not be reached, or answered unreadably.
    UpstreamUnreachable = "upstream_unreachable",
    /// 504: the app did not answer in time.
    UpstreamTimeout = "upstream_timeout",
    /// 503: every address of the app's route is failing its health checks.
    UpstreamUnavailable = "upstream_unavailable",
    /// 403: an upgraded connection closed because its access changed.
    AccessChanged = "access_changed",
    /// 403: the workspace requires its own IdP and the session was not
    /// signed in through it (`sign_in_url` signs in there and comes back).
    SsoRequired = "sso_required",
    /// 403: the session is older than the workspace allows
    /// (`sign_in_url` signs in again and comes back).
    ReauthenticationRequired = "reauthentication_required",
    /// 403: the session was signed in with a method the workspace does not
    /// allow.
    SignInMethodNotAllowed = "sign_in_method_not_allowed",
    /// 400: the request could not be read.
    BadRequest = "bad_request",

    // Answered by the control plane: input.
    /// 400: a required field is absent (see `field`).
    MissingField = "missing_field",
    /// 400: the body is unreadable, malformed or of the wrong shape.
    InvalidBody = "invalid_body",
    /// 415: a body that is neither JSON nor a form.
    UnsupportedMediaType = "unsupported_media_type",
    /// 400: a field the endpoint does not know.
    UnknownField = "unknown_field",
    /// 400: a field of the wrong type.
    InvalidField = "invalid_field",
    /// 400: an empty, too long or unprintable name.
    InvalidName = "invalid_name",
    /// 400: not `owner`, `admin`, `member` or `viewer`.
    InvalidRole = "invalid_role",
    /// 400: not an email address.
    InvalidEmail = "invalid_email",
    /// 400: the password breaks the strength rule.
    WeakPassword = "weak_password",
    /// 400: an expiry not in the future.
    InvalidExpiry = "invalid_expiry",
    /// 400: a cursor that is no `next_cursor`.
    InvalidCursor = "invalid_cursor",
    /// 400: a page size out of range.
    InvalidLimit = "invalid_limit",
    /// 400: a time that is neither RFC 3339 nor Unix seconds.
    InvalidTime = "invalid_time",
    /// 400: a list that is not one, or too long.
    InvalidList = "invalid_list",
    /// 400: not an IP address.
    InvalidIp = "invalid_ip",
    /// 400: not an API key id.
    InvalidKeyId = "invalid_key_id",
    /// 400: an unknown refusal reason.
    InvalidReason = "invalid_reason",
    /// 400: a webhook URL that is not absolute http(s), or too long.
    InvalidUrl = "invalid_url",
    /// 400: no event types, or not a list of names.
    InvalidEventTypes = "invalid_event_types",
    /// 400: a webhook description too long or unprintable.
    InvalidDescription = "invalid_description",
    /// 400: `parent_id` given: workspaces cannot be nested.
    WorkspacesAreFlat = "workspaces_are_flat",
    /// 400: a webhook target on a network deliveries may not reach.
    WebhookTargetForbidden = "webhook_target_forbidden",

    // Answered by the control plane: who is asking.
    /// 401: the email or password is wrong.
    InvalidCredentials = "invalid_credentials",
    /// 429: too many attempts; see `Retry-After`.
    RateLimited = "rate_limited",
    /// 403: the endpoint acts for a person; an API key cannot use it.
    UserRequired = "user_required",
    /// 403: only an owner may do this (with `decision_id`).
    OwnerRequired = "owner_required",
    /// 403: the membership (or API key) is limited to other projects.
    ProjectNotGranted = "project_not_granted",
    /// 403: the project is archived: reads only.
    ProjectArchived = "project_archived",
    /// Gateway 404: the request names a project its workspace does not have.
    NoSuchProject = "no_such_project",
    /// Gateway 400: the route needs a project and the request names none.
    ProjectRequired = "project_required",
    /// 403: a key's role ceiling above the caller's own role.
    CeilingAboveRole = "ceiling_above_role",
    /// 409: the person behind the request has been disabled.
    UserDisabled = "user_disabled",
    /// 409: the key making the request has been revoked.
    ApiKeyRevoked = "api_key_revoked",
    /// 409: the session making the request has ended.
    SessionEnded = "session_ended",
    /// 403: the current password given is wrong.
    WrongPassword = "wrong_password",
    /// 403: the workspace requires a verified email and the person's is not.
    EmailUnverified = "email_unverified",

    // Answered by the control plane: the state of things.
    /// 409: an account with this email exists.
    EmailTaken = "email_taken",
    /// 409: a workspace must keep at least one owner.
    LastOwner = "last_owner",
    /// 400: an owner has every project.
    OwnerNotLimitable = "owner_not_limitable",
    /// 400: ownership can only go to another member.
    SameUser = "same_user",
    /// 400: `projects` names a project of another workspace.
    UnknownProject = "unknown_project",
    /// 409: already a member of the workspace.
    AlreadyMember = "already_member",
    /// 409: the invitation was used.
    InvitationSpent = "invitation_spent",
    /// 409: the invitation was withdrawn.
    InvitationRevoked = "invitation_revoked",
    /// 409: the invitation has expired.
    InvitationExpired = "invitation_expired",
    /// 409: the invitee declined the invitation.
    InvitationDeclined = "invitation_declined",
    /// 400: a verification or reset link that is not one (or was replaced).
    TokenInvalid = "token_invalid",
    /// 409: a verification or reset link already used.
    TokenUsed = "token_used",
    /// 409: a verification or reset link past its expiry.
    TokenExpired = "token_expired",
    /// 409: the invitation was sent to another email address.
    InvitationEmailMismatch = "invitation_email_mismatch",
    /// 409: a project of this name exists in the workspace.
    ProjectNameTaken = "project_name_taken",
    /// 409: a personal workspace cannot be deleted.
    PersonalWorkspace = "personal_workspace",
    /// 409: the workspace still has a Stripe subscription.
    ActiveSubscription = "active_subscription",
    /// 409: "require SSO" without an enabled SSO connection.
    SsoConnectionMissing = "sso_connection_missing",
    /// 400: not a domain name a workspace can claim (a wildcard, a bare
    /// suffix, not a host name).
    InvalidDomain = "invalid_domain",
    /// 409: another workspace has verified this domain.
    DomainTaken = "domain_taken",
    /// 409: the workspace has already added this domain.
    DomainExists = "domain_exists",
    /// 409: the workspace has as many domains as it may have.
    DomainLimit = "domain_limit",

    // Answered by the control plane: single sign-on.
    /// 503: no secrets key is configured, so client secrets cannot be sealed.
    SecretsKeyMissing = "secrets_key_missing",
    /// 422: the issuer's discovery document could not be fetched.
    IssuerUnreachable = "issuer_unreachable",
    /// 422: the issuer's discovery document is not a valid one for it.
    IssuerInvalid = "issuer_invalid",
    /// 409: an account with this email exists and is not linked to the
    /// provider: sign in with the password first.
    AccountExists = "account_exists",
    /// 403: the email's domain is not one the connection accepts.
    EmailDomainNotAllowed = "email_domain_not_allowed",
    /// 400: a sign-in through a provider that could not be completed.
    SsoFailed = "sso_failed",
    /// 409: the workspace's sign-in policy requires SSO through this
    /// connection: change the policy before removing or disabling it.
    SsoConnectionInUse = "sso_connection_in_use",

    // Answered by the control plane: billing.
    /// 404: billing is off on this server.
    BillingDisabled = "billing_disabled",
    /// 409: the workspace already has a Stripe customer.
    BillingAccountExists = "billing_account_exists",
    /// 409: the workspace already has a subscription.
    AlreadySubscribed = "already_subscribed",
    /// 409: the workspace has no Stripe customer yet.
    NoBillingAccount = "no_billing_account",
    /// 503: the Stripe API is not configured.
    StripeNotConfigured = "stripe_not_configured",
    /// 502: Stripe could not be reached or refused.
    StripeUnavailable = "stripe_unavailable",
    /// 400: a Stripe webhook without `Stripe-Signature`.
    MissingSignature = "missing_signature",
    /// 400: a Stripe webhook signature that does not verify.
    InvalidSignature = "invalid_signature",
    /// 400: a Stripe webhook signed too long ago.
    StaleSignature = "stale_signature",
    /// 400: a Stripe event that cannot be read.
    InvalidEvent = "invalid_event",

    // Answered by the control plane: routes guarded by a configured secret.
    /// 404: the operator API is off.
    OperatorApiDisabled = "operator_api_disabled",
    /// 401: not the operator token.
    InvalidOperatorToken = "invalid_operator_token",
    /// 404: gateway key-usage reports are off.
    GatewayReportsDisabled = "gateway_reports_disabled",
    /// 401: not the gateway token.
    InvalidGatewayToken = "invalid_gateway_token",
    /// 404: gateways do not sign assertions.
    AssertionsOff = "assertions_off",
    /// 500: an internal error (details are logged, never shown).
    Internal = "internal",

    // Answered by apps, through the SDK.
    /// 401: no assertion: the request did not come through the gateway.
    NotThroughGateway = "not_through_gateway",
    /// 401: a malformed or badly signed assertion.
    InvalidAssertion = "invalid_assertion",
    /// 401: the assertion has expired.
    AssertionExpired = "assertion_expired",
    /// 401: the assertion is signed with an unpublished key.
    UnknownAssertionKey = "unknown_assertion_key",
    /// 503: the assertion keys cannot be fetched.
    AssertionKeysUnavailable = "assertion_keys_unavailable",
    /// 500: the app has no verifier installed on this route.
    SdkNotConfigured = "sdk_not_configured",
}

/// A `code` this version of the contract does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown problem code `{0}`")]
pub struct UnknownCode(pub String);

impl FromStr for ProblemCode {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProblemCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ProblemCode> for &'static str {
    fn from(code: ProblemCode) -> Self {
        code.as_str()
    }
}

impl Serialize for ProblemCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProblemCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() -> Result<(), serde_json::Error> {
        let mut seen = BTreeSet::new();
        for code in ProblemCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "`{text}` is listed twice");
            let snake = !text.is_empty()
                && text
                    .split('_')
                    .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()));
            assert!(snake, "`{text}` is not snake_case");
            assert_eq!(text.parse::<ProblemCode>(), Ok(*code));
            let json = serde_json::to_string(code)?;
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<ProblemCode>(&json)?, *code);
        }
        assert!("no_such_code".parse::<ProblemCode>().is_err());
        Ok(())
    }

    #[test]
    fn problems_have_the_documented_shape() -> Result<(), serde_json::Error> {
        let mut p = Problem::new(403, "Forbidden", ProblemCode::Forbidden, "no");
        assert_eq!(
            serde_json::to_string(&p)?,
            r#"{"type":"/.wrnexus/problems/forbidden","title":"Forbidden","status":403,"code":"forbidden","detail":"no"}"#
        );
        p.request_id = Some("r1".into());
        p.decision_id = Some("d1".into());
        let text = serde_json::to_string(&p)?;
        assert!(text.ends_with(r#""detail":"no","request_id":"r1","decision_id":"d1"}"#));
        let back: Problem = serde_json::from_str(&text)?;
        assert_eq!(back, p);
        assert_eq!(back.known_code(), Some(ProblemCode::Forbidden));
        Ok(())
    }
}
