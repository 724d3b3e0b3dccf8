//! A workspace's sign-in policy (which methods its sessions may have been
//! signed in with, how old they may be) and how one request's session was
//! signed in, as Cedar sees both (`sign_in.cedar` enforces the policy).

use crate::claims::{AMR_OIDC, AMR_SSO, SessionClaims};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A way to sign in a workspace may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignInMethod {
    /// Email and password.
    Password,
    /// An instance-wide OpenID provider.
    Oidc,
    /// A workspace's own IdP.
    Sso,
}

impl SignInMethod {
    pub const ALL: [SignInMethod; 3] = [
        SignInMethod::Password,
        SignInMethod::Oidc,
        SignInMethod::Sso,
    ];

    /// The name the API, the store and Cedar use.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Oidc => "oidc",
            SignInMethod::Sso => "sso",
        }
    }

    /// What a session signed in with `self` (through the IdP of
    /// `sso_workspace_id`, for `Sso`) counts as in `workspace_id`: only that
    /// workspace's own IdP is `Sso` there; another workspace's IdP is an
    /// outside provider, as an instance-wide one is (`Oidc`).
    pub fn in_workspace(self, sso_workspace_id: Option<&str>, workspace_id: &str) -> SignInMethod {
        match self {
            SignInMethod::Sso if sso_workspace_id != Some(workspace_id) => SignInMethod::Oidc,
            other => other,
        }
    }

    fn bit(self) -> u8 {
        match self {
            SignInMethod::Password => 1,
            SignInMethod::Oidc => 2,
            SignInMethod::Sso => 4,
        }
    }
}

impl fmt::Display for SignInMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no sign-in method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sign-in method `{0}` (expected `password`, `oidc` or `sso`)")]
pub struct UnknownMethod(pub String);

impl std::str::FromStr for SignInMethod {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignInMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

/// A set of sign-in methods. On the wire a list of names, in the order of
/// [`SignInMethod::ALL`]; absent in entries written before it existed,
/// which read as every method.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignInMethods(u8);

impl SignInMethods {
    /// Every method: the default policy.
    pub const ALL: SignInMethods = SignInMethods(7);
    /// No method (not a valid policy; the API refuses it).
    pub const NONE: SignInMethods = SignInMethods(0);
    /// Only the workspace's own IdP: "require SSO".
    pub const SSO_ONLY: SignInMethods = SignInMethods(4);

    pub fn contains(self, method: SignInMethod) -> bool {
        self.0 & method.bit() != 0
    }

    pub fn with(self, method: SignInMethod) -> Self {
        SignInMethods(self.0 | method.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the workspace requires its own IdP (`sso` alone).
    pub fn requires_sso(self) -> bool {
        self == Self::SSO_ONLY
    }

    /// The methods, in the order of [`SignInMethod::ALL`].
    pub fn iter(self) -> impl Iterator<Item = SignInMethod> {
        SignInMethod::ALL
            .into_iter()
            .filter(move |m| self.contains(*m))
    }

    /// One byte that tells sets apart (the decision memo's key).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The comma-separated form the store keeps (`password,oidc,sso`).
    pub fn to_list(self) -> String {
        self.iter()
            .map(SignInMethod::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Read the store's comma-separated form.
    pub fn parse_list(list: &str) -> Result<Self, UnknownMethod> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_fold(Self::NONE, |set, name| Ok(set.with(name.parse()?)))
    }
}

impl Default for SignInMethods {
    fn default() -> Self {
        Self::ALL
    }
}

impl FromIterator<SignInMethod> for SignInMethods {
    fn from_iter<I: IntoIterator<Item = SignInMethod>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

impl fmt::Debug for SignInMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for SignInMethods {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(SignInMethod::as_str))
    }
}

impl<'de> Deserialize<'de> for SignInMethods {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| n.parse::<SignInMethod>())
            .collect::<Result<SignInMethods, _>>()
            .map_err(serde::de::Error::custom)
    }
}

/// `context.sign_in_method` of an API key: no sign-in stands behind it.
pub const API_KEY_METHOD: &str = "api_key";

/// `context.sso_workspace` of a session no workspace's IdP signed in: an
/// id no workspace has.
pub const NO_SSO_WORKSPACE: &str = "wrnexus:none";

/// How one request's credential was signed in, and the sign-in policy of
/// the workspace it asks about: the `sign_in_method`, `sso_workspace`,
/// `allowed_sign_in_methods`, `session_age_secs` and
/// `max_session_age_secs` of Cedar's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignIn<'a> {
    /// `password`, `oidc`, `sso`, or [`API_KEY_METHOD`].
    pub method: &'a str,
    /// The workspace whose own IdP signed the session in.
    pub sso_workspace_id: Option<&'a str>,
    /// The methods the workspace allows.
    pub allowed: SignInMethods,
    /// Seconds since the person signed in (0 for an API key).
    pub session_age_secs: i64,
    /// The workspace's limit on it; 0: none.
    pub max_session_age_secs: i64,
}

impl SignIn<'static> {
    /// An API key's in a workspace with the policy `allowed` and `max_age`
    /// (`None`: no limit): no sign-in (`sign_in.cedar` leaves keys alone).
    pub fn api_key(allowed: SignInMethods, max_age: Option<i64>) -> Self {
        SignIn {
            allowed,
            max_session_age_secs: max_age.unwrap_or(0).max(0),
            ..Self::API_KEY
        }
    }

    /// An API key's in a workspace without a sign-in policy.
    pub const API_KEY: SignIn<'static> = SignIn {
        method: API_KEY_METHOD,
        sso_workspace_id: None,
        allowed: SignInMethods::ALL,
        session_age_secs: 0,
        max_session_age_secs: 0,
    };

    /// A fresh password session in a workspace without a sign-in policy:
    /// what decisions that do not enforce one (the control plane's own
    /// routes, samples of the request space) are made with.
    pub const UNRESTRICTED: SignIn<'static> = SignIn {
        method: "password",
        sso_workspace_id: None,
        allowed: SignInMethods::ALL,
        session_age_secs: 0,
        max_session_age_secs: 0,
    };
}

impl<'a> SignIn<'a> {
    /// A session's sign-in at `now` (Unix seconds), under the policy of
    /// `workspace_id` (the workspace being decided), which allows `allowed`
    /// with `max_age` (`None`: no limit). A session another workspace's
    /// IdP signed in counts as `oidc` there (see [`SignInMethod::in_workspace`]);
    /// `sso_workspace_id` still names that IdP's workspace.
    pub fn session(
        claims: &'a SessionClaims,
        workspace_id: &str,
        allowed: SignInMethods,
        max_age: Option<i64>,
        now: i64,
    ) -> Self {
        let method = session_method(claims);
        SignIn {
            method: method
                .in_workspace(claims.sso_wid.as_deref(), workspace_id)
                .as_str(),
            sso_workspace_id: claims
                .sso_wid
                .as_deref()
                .filter(|_| method == SignInMethod::Sso),
            allowed,
            session_age_secs: now.saturating_sub(claims.signed_in_at()).max(0),
            max_session_age_secs: max_age.unwrap_or(0).max(0),
        }
    }

    /// Whether the session satisfies "require SSO" of `workspace_id`:
    /// signed in through that workspace's own IdP.
    pub fn through_idp_of(&self, workspace_id: &str) -> bool {
        self.method == SignInMethod::Sso.as_str() && self.sso_workspace_id == Some(workspace_id)
    }
}

/// The method a session's `amr` names: its own IdP over an instance-wide
/// provider over a password (a cookie naming none was a password).
pub fn session_method(claims: &SessionClaims) -> SignInMethod {
    let mut method = SignInMethod::Password;
    for amr in claims.methods() {
        if amr == AMR_SSO && claims.sso_wid.is_some() {
            return SignInMethod::Sso;
        }
        if amr == AMR_OIDC {
            method = SignInMethod::Oidc;
        }
    }
    method
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(amr: &[&str], sso_wid: Option<&str>) -> SessionClaims {
        SessionClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "u1".into(),
            wid: "w1".into(),
            sid: "s1".into(),
            iat: 1_000,
            exp: 9_000,
            amr: amr.iter().map(|s| s.to_string()).collect(),
            auth_time: 0,
            sso_wid: sso_wid.map(str::to_string),
        }
    }

    #[test]
    fn sets_read_and_write_as_lists() -> Result<(), Box<dyn std::error::Error>> {
        let set: SignInMethods = serde_json::from_str(r#"["sso","password"]"#)?;
        assert_eq!(serde_json::to_string(&set)?, r#"["password","sso"]"#);
        assert_eq!(set.to_list(), "password,sso");
        assert_eq!(
            SignInMethods::parse_list("password,oidc,sso")?,
            SignInMethods::ALL
        );
        assert!(SignInMethods::parse_list("sso")?.requires_sso());
        assert!(SignInMethods::parse_list("kerberos").is_err());
        assert!(serde_json::from_str::<SignInMethods>(r#"["pwd"]"#).is_err());
        Ok(())
    }

    #[test]
    fn a_session_is_named_by_its_strongest_method() {
        assert_eq!(session_method(&claims(&[], None)), SignInMethod::Password);
        assert_eq!(session_method(&claims(&["oidc"], None)), SignInMethod::Oidc);
        let sso = claims(&["sso"], Some("w2"));
        assert_eq!(session_method(&sso), SignInMethod::Sso);
        // `sso` without the workspace it came through counts for nothing.
        assert_eq!(
            session_method(&claims(&["sso"], None)),
            SignInMethod::Password
        );
        let sign_in = SignIn::session(&sso, "w2", SignInMethods::ALL, Some(600), 1_700);
        assert_eq!(sign_in.session_age_secs, 700);
        assert_eq!(sign_in.max_session_age_secs, 600);
        assert_eq!(sign_in.method, "sso");
        assert!(sign_in.through_idp_of("w2"));
        assert!(!sign_in.through_idp_of("w1"));
    }

    #[test]
    fn another_workspaces_idp_is_an_outside_provider_here() {
        let sso = claims(&["sso", "pwd"], Some("w2"));
        let elsewhere = SignIn::session(&sso, "w1", SignInMethods::ALL, None, 1_000);
        assert_eq!(elsewhere.method, "oidc");
        // Still named, for "require SSO" (which it does not satisfy here).
        assert_eq!(elsewhere.sso_workspace_id, Some("w2"));
        assert!(!elsewhere.through_idp_of("w1"));
        assert!(!elsewhere.through_idp_of("w2"));
        let password = claims(&["pwd"], None);
        assert_eq!(
            SignIn::session(&password, "w1", SignInMethods::ALL, None, 1_000).method,
            "password"
        );
        assert_eq!(
            SignInMethod::Oidc.in_workspace(Some("w1"), "w1"),
            SignInMethod::Oidc
        );
    }
}
