//! Header names apps and clients see (design §6, §5), lowercase as HTTP/2
//! sends them; HTTP/1 peers may see any case.

/// The verified workspace id, added to every forwarded request.
pub const WORKSPACE_ID: &str = "x-workspace-id";
/// The verified user id, when a signed-in user is calling.
pub const USER_ID: &str = "x-user-id";
/// The API key id (never the secret), when an API key is calling.
pub const API_KEY_ID: &str = "x-api-key-id";
/// The role the request was decided with (an API key's ceiling).
pub const WORKSPACE_ROLE: &str = "x-workspace-role";
/// The verified project, when the request's route names one and it was
/// decided on it.
pub const PROJECT_ID: &str = "x-project-id";
/// The gateway's request id; also in problem bodies as `request_id`.
pub const REQUEST_ID: &str = "x-request-id";
/// The client's address, as the gateway saw it (after trusted proxies).
pub const FORWARDED_FOR: &str = "x-forwarded-for";
/// The scheme the client used.
pub const FORWARDED_PROTO: &str = "x-forwarded-proto";
/// The host the client asked for.
pub const FORWARDED_HOST: &str = "x-forwarded-host";

/// Every header of the project's own starts with this; none reaches an app
/// from a client.
pub const OWN_PREFIX: &str = "x-wrnexus-";
/// The signed assertion JWT (see [`crate::assertion`]).
pub const ASSERTION: &str = "x-wrnexus-assertion";
/// The id of the decision behind a refusal; also in the problem body as
/// `decision_id`.
pub const DECISION_ID: &str = "x-wrnexus-decision-id";

/// What the gateway sets on a forwarded request, client copies removed
/// first. [`USER_ID`] and [`API_KEY_ID`] are exclusive; [`PROJECT_ID`] only
/// when the request was decided on a project; [`ASSERTION`] only when the
/// gateway signs assertions.
pub const SET_FOR_APPS: [&str; 10] = [
    WORKSPACE_ID,
    USER_ID,
    API_KEY_ID,
    WORKSPACE_ROLE,
    PROJECT_ID,
    REQUEST_ID,
    FORWARDED_FOR,
    FORWARDED_PROTO,
    FORWARDED_HOST,
    ASSERTION,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_tokens_and_ours_are_prefixed() {
        for name in SET_FOR_APPS.iter().chain([&DECISION_ID]) {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
        }
        assert!(ASSERTION.starts_with(OWN_PREFIX));
        assert!(DECISION_ID.starts_with(OWN_PREFIX));
    }
}
