//! Every refusal, as a table: the refusal → its status, code, side and
//! outcome; and the body every one of them writes.

use super::*;

fn denied(reason: DenyReason, errors: bool) -> Refusal {
    Refusal::Denied {
        reason,
        decision_id: "d1".into(),
        errors,
    }
}

/// `sso_required` for workspace `w1`, refused on `/notes?q=1`.
fn sso_required(browser: bool) -> DenyReason {
    DenyReason::SsoRequired {
        sign_in_url: sign_in::sso_start_url("w1", "/notes?q=1"),
        browser,
    }
}

/// Every variant, with what it must answer.
fn table() -> Vec<(Refusal, u16, &'static str, Side, Outcome)> {
    use Outcome as O;
    use Side::*;
    let role = DenyReason::Role {
        role: "viewer".into(),
        action: "write".into(),
    };
    vec![
        (
            Refusal::Framing(FramingError::LengthAndChunked),
            400,
            "conflicting_framing",
            Client,
            O::BadRequest,
        ),
        (
            Refusal::Framing(FramingError::ConflictingLengths),
            400,
            "conflicting_framing",
            Client,
            O::BadRequest,
        ),
        (
            Refusal::Framing(FramingError::DuplicateAuthorization),
            400,
            "duplicate_authorization",
            Client,
            O::BadRequest,
        ),
        (
            Refusal::Framing(FramingError::ConflictingHost),
            400,
            "conflicting_host",
            Client,
            O::BadRequest,
        ),
        (
            Refusal::AmbiguousPath("a `..` segment".into()),
            400,
            "ambiguous_path",
            Client,
            O::BadRequest,
        ),
        (Refusal::NoRoute, 404, "no_route", Client, O::NoRoute),
        (
            Refusal::Authn(AuthnError::Missing),
            401,
            "unauthenticated",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::Authn(AuthnError::DuplicateCookie),
            400,
            "duplicate_session_cookie",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::Authn(AuthnError::Invalid),
            401,
            "invalid_session",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::Authn(AuthnError::UnknownKey),
            401,
            "invalid_session",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::Authn(AuthnError::Revoked),
            401,
            "session_revoked",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::SignIn {
                return_to: "/a?b=c".into(),
            },
            302,
            "unauthenticated",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::ApiKey(KeyError::Malformed),
            401,
            "invalid_api_key",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::ApiKey(KeyError::Revoked),
            401,
            "invalid_api_key",
            Client,
            O::Unauthenticated,
        ),
        (
            Refusal::CrossOrigin("Origin `https://evil` is not this site's origin".into()),
            403,
            "csrf_rejected",
            Client,
            O::Deny,
        ),
        (Refusal::NoSuchWorkspace, 404, "not_found", Client, O::Deny),
        (
            denied(DenyReason::NotAMember, false),
            403,
            "not_a_member",
            Client,
            O::Deny,
        ),
        (
            denied(DenyReason::WorkspaceReadOnly, false),
            403,
            "workspace_read_only",
            Client,
            O::Deny,
        ),
        (
            denied(DenyReason::ApiKeyWrongWorkspace, false),
            403,
            "api_key_wrong_workspace",
            Client,
            O::Deny,
        ),
        (
            denied(role.clone(), false),
            403,
            "forbidden",
            Client,
            O::Deny,
        ),
        (denied(role, true), 403, "forbidden", Client, O::Error),
        (
            Refusal::IdentityUnforwardable,
            500,
            "identity_unforwardable",
            Internal,
            O::Error,
        ),
        (
            Refusal::BackendUnavailable,
            503,
            "backend_unavailable",
            Internal,
            O::Error,
        ),
        (
            Refusal::UpstreamUnreachable,
            502,
            "upstream_unreachable",
            Upstream,
            O::Error,
        ),
        (
            Refusal::UpstreamTimeout,
            504,
            "upstream_timeout",
            Upstream,
            O::Error,
        ),
        (
            Refusal::UpstreamUnavailable,
            503,
            "upstream_unavailable",
            Upstream,
            O::Error,
        ),
        (
            Refusal::AccessChanged,
            403,
            "access_changed",
            Client,
            O::Deny,
        ),
        (
            Refusal::BadRequest,
            400,
            "bad_request",
            Client,
            O::BadRequest,
        ),
        (
            Refusal::NoSuchProject,
            404,
            "no_such_project",
            Client,
            O::Deny,
        ),
        (
            Refusal::ProjectRequired,
            400,
            "project_required",
            Client,
            O::BadRequest,
        ),
        (
            Refusal::Denied {
                reason: DenyReason::ProjectNotGranted,
                decision_id: "d1".into(),
                errors: false,
            },
            403,
            "project_not_granted",
            Client,
            O::Deny,
        ),
        (
            Refusal::Denied {
                reason: DenyReason::ProjectArchived,
                decision_id: "d1".into(),
                errors: false,
            },
            403,
            "project_archived",
            Client,
            O::Deny,
        ),
        (
            Refusal::Denied {
                reason: DenyReason::EmailUnverified,
                decision_id: "d1".into(),
                errors: false,
            },
            403,
            "email_unverified",
            Client,
            O::Deny,
        ),
        (
            Refusal::EmailUnverified { browser: false },
            403,
            "email_unverified",
            Client,
            O::Deny,
        ),
        (
            denied(sso_required(false), false),
            403,
            "sso_required",
            Client,
            O::Deny,
        ),
        (
            denied(
                DenyReason::ReauthenticationRequired {
                    sign_in_url: "/.wrnexus/signin?return_to=/".into(),
                    browser: false,
                },
                false,
            ),
            403,
            "reauthentication_required",
            Client,
            O::Deny,
        ),
        (
            denied(DenyReason::SignInMethodNotAllowed, false),
            403,
            "sign_in_method_not_allowed",
            Client,
            O::Deny,
        ),
        (Refusal::Internal, 500, "internal", Internal, O::Error),
    ]
}

/// A new variant must join the table: this match fails to compile until
/// it is named here, and the test below fails until it is in the table.
fn variant(r: &Refusal) -> &'static str {
    match r {
        Refusal::Framing(_) => "Framing",
        Refusal::AmbiguousPath(_) => "AmbiguousPath",
        Refusal::NoRoute => "NoRoute",
        Refusal::Authn(_) => "Authn",
        Refusal::SignIn { .. } => "SignIn",
        Refusal::ApiKey(_) => "ApiKey",
        Refusal::CrossOrigin(_) => "CrossOrigin",
        Refusal::NoSuchWorkspace => "NoSuchWorkspace",
        Refusal::NoSuchProject => "NoSuchProject",
        Refusal::ProjectRequired => "ProjectRequired",
        Refusal::Denied { .. } => "Denied",
        Refusal::EmailUnverified { .. } => "EmailUnverified",
        Refusal::IdentityUnforwardable => "IdentityUnforwardable",
        Refusal::BackendUnavailable => "BackendUnavailable",
        Refusal::UpstreamUnreachable => "UpstreamUnreachable",
        Refusal::UpstreamTimeout => "UpstreamTimeout",
        Refusal::UpstreamUnavailable => "UpstreamUnavailable",
        Refusal::AccessChanged => "AccessChanged",
        Refusal::BadRequest => "BadRequest",
        Refusal::Internal => "Internal",
    }
}

const VARIANTS: usize = 20;

#[test]
fn every_refusal_maps_to_its_status_code_side_and_outcome() {
    let table = table();
    let named: std::collections::BTreeSet<_> = table.iter().map(|(r, ..)| variant(r)).collect();
    assert_eq!(
        named.len(),
        VARIANTS,
        "every variant is in the table: {named:?}"
    );
    for (refusal, status, code, side, outcome) in table {
        assert_eq!(refusal.status(), status, "{refusal:?}");
        assert_eq!(refusal.code().as_str(), code, "{refusal:?}");
        assert_eq!(refusal.side(), side, "{refusal:?}");
        assert_eq!(refusal.outcome(), outcome, "{refusal:?}");
    }
}

#[test]
fn every_problem_is_problem_json_with_the_request_id() -> Result<(), serde_json::Error> {
    for (refusal, status, code, ..) in table() {
        let reply = refusal.reply("req-7");
        assert_eq!(reply.status, status);
        if status == 302 {
            continue;
        }
        assert!(
            reply
                .headers
                .contains(&("content-type", "application/problem+json".to_string())),
            "{refusal:?}"
        );
        assert!(
            reply
                .headers
                .contains(&("x-request-id", "req-7".to_string())),
            "{refusal:?}"
        );
        let body: serde_json::Value = serde_json::from_slice(&reply.body)?;
        assert_eq!(body["code"], code);
        assert_eq!(body["status"], status);
        assert_eq!(body["type"], format!("/.wrnexus/problems/{code}"));
        assert_eq!(body["request_id"], "req-7");
        assert_eq!(body["detail"], refusal.to_string());
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        let has_decision = matches!(refusal, Refusal::Denied { .. });
        assert_eq!(body["decision_id"].as_str().is_some(), has_decision);
        assert_eq!(
            reply
                .headers
                .contains(&(DECISION_ID_HEADER, "d1".to_string())),
            has_decision
        );
    }
    Ok(())
}

#[test]
fn a_browser_of_an_unverified_person_is_pointed_to_a_new_link() {
    let reply = Refusal::EmailUnverified { browser: true }.reply("r1");
    assert_eq!(reply.status, 403);
    assert!(
        reply
            .headers
            .contains(&("content-type", "text/html; charset=utf-8".to_string()))
    );
    assert!(reply.headers.contains(&("x-request-id", "r1".to_string())));
    let body = String::from_utf8_lossy(&reply.body);
    assert!(body.contains("href=\"/.wrnexus/verify-email\""), "{body}");
}

#[test]
fn a_browser_without_a_session_is_sent_to_sign_in_and_back() {
    let reply = Refusal::SignIn {
        return_to: "/w/1/page?q=a b&x=1".into(),
    }
    .reply("r1");
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.headers[0],
        (
            "location",
            "/.wrnexus/signin?return_to=/w/1/page%3Fq%3Da%20b%26x%3D1".to_string()
        )
    );
}

#[test]
fn pingora_errors_answer_by_side() {
    use pingora::ErrorType::*;
    let upstream = |t| Error::explain(t, "x").into_up();
    let downstream = |t| Error::explain(t, "x").into_down();
    let cases = [
        (upstream(ConnectRefused), Some(502)),
        (upstream(ConnectNoRoute), Some(502)),
        (upstream(ConnectTimedout), Some(504)),
        (upstream(ReadTimedout), Some(504)),
        (upstream(InvalidHTTPHeader), Some(502)),
        (downstream(ConnectionClosed), None),
        (downstream(ReadError), None),
        (downstream(InvalidHTTPHeader), Some(400)),
        (Error::explain(InternalError, "x"), Some(500)),
        (Refusal::access_changed(), Some(403)),
        (Refusal::no_admission(), Some(500)),
        (Refusal::upstream_unavailable(), Some(503)),
    ];
    for (error, status) in cases {
        let refusal = Refusal::of_proxy_error(&error);
        assert_eq!(refusal.as_ref().map(Refusal::status), status, "{error}");
    }
}

#[test]
fn a_traced_problem_carries_its_trace_id() -> Result<(), serde_json::Error> {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = Refusal::NoRoute.reply_traced("req-8", Some(trace));
    assert!(reply.headers.contains(&("x-trace-id", trace.to_string())));
    let body: serde_json::Value = serde_json::from_slice(&reply.body)?;
    assert_eq!(body["trace_id"], trace);
    assert_eq!(body["request_id"], "req-8");
    let untraced = Refusal::NoRoute.reply("req-9");
    let body: serde_json::Value = serde_json::from_slice(&untraced.body)?;
    assert!(body.get("trace_id").is_none());
    Ok(())
}

#[test]
fn a_refusal_of_the_sign_in_policy_carries_the_link_back() -> Result<(), serde_json::Error> {
    let reply = denied(sso_required(false), false).reply("r1");
    assert_eq!(reply.status, 403);
    let body: serde_json::Value = serde_json::from_slice(&reply.body)?;
    assert_eq!(body["code"], "sso_required");
    assert_eq!(
        body["sign_in_url"],
        "/.wrnexus/sso/start?workspace_id=w1&return_to=/notes%3Fq%3D1"
    );
    assert_eq!(body["decision_id"], "d1");
    // Only these refusals carry one.
    let other = denied(DenyReason::SignInMethodNotAllowed, false).reply("r1");
    let body: serde_json::Value = serde_json::from_slice(&other.body)?;
    assert!(body.get("sign_in_url").is_none());
    Ok(())
}

#[test]
fn a_browser_refused_by_the_sign_in_policy_gets_a_page_with_the_link() {
    for (reason, title) in [
        (sso_required(true), "Sign in with your organization"),
        (
            DenyReason::ReauthenticationRequired {
                sign_in_url: sign_in::signin_url("/notes?q=1"),
                browser: true,
            },
            "Sign in again",
        ),
    ] {
        let reply = denied(reason, false).reply("r1");
        assert_eq!(reply.status, 403);
        assert!(
            reply
                .headers
                .contains(&("content-type", "text/html; charset=utf-8".to_string()))
        );
        assert!(
            reply
                .headers
                .contains(&(DECISION_ID_HEADER, "d1".to_string()))
        );
        let body = String::from_utf8_lossy(&reply.body);
        assert!(body.contains(title), "{body}");
        assert!(
            body.contains("return_to=/notes%3Fq%3D1\">Sign in</a>"),
            "{body}"
        );
    }
}
