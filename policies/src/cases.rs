//! Decision tests as data: `tests/*.toml` beside the policy files. Each
//! `[[case]]` describes a request (who, which action, which workspace or
//! project — archived or not —, the membership's role or the key's ceiling,
//! its project limits, the workspace's state and sign-in policy, and how the
//! session was signed in) and the decision it must
//! get, optionally with the policies that must determine it and the problem
//! code a denial carries. `wrnexus policy test` runs them, and so does every (re)load.

use crate::engine::{Decision, DecisionRequest, PolicyEngine, Principal};
use crate::load::{PolicyError, PolicySource};
use crate::model::{Action, Role, WorkspaceStatus};
use crate::sign_in::{API_KEY_METHOD, SignIn, SignInMethod, SignInMethods};
use serde::Deserialize;
use std::path::Path;

/// The shipped cases, compiled in with the shipped policies.
const SHIPPED_CASES: &[(&str, &str)] = &[
    (
        "tests/api_keys.toml",
        include_str!("../tests/api_keys.toml"),
    ),
    (
        "tests/email_verified.toml",
        include_str!("../tests/email_verified.toml"),
    ),
    ("tests/matrix.toml", include_str!("../tests/matrix.toml")),
    (
        "tests/project_matrix_keys.toml",
        include_str!("../tests/project_matrix_keys.toml"),
    ),
    (
        "tests/project_matrix_sessions.toml",
        include_str!("../tests/project_matrix_sessions.toml"),
    ),
    (
        "tests/projects.toml",
        include_str!("../tests/projects.toml"),
    ),
    ("tests/sign_in.toml", include_str!("../tests/sign_in.toml")),
];

/// One file of cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

/// Who makes a case's request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    #[default]
    User,
    ApiKey,
}

/// The expected outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Allow,
    Deny,
}

/// The `code` of a case whose denial carries no problem code.
pub const NO_CODE: &str = "none";

fn default_workspace() -> String {
    "w1".to_string()
}

fn default_plan() -> String {
    "free".to_string()
}

fn default_verified() -> bool {
    true
}

fn default_path() -> String {
    "/".to_string()
}

/// A request and the decision it must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub principal: Who,
    pub action: String,
    /// `owner`, `admin`, `member`, `viewer` (a key's ceiling), or `none`
    /// for a non-member.
    pub role: String,
    #[serde(default)]
    pub status: Option<WorkspaceStatus>,
    #[serde(default = "default_plan")]
    pub plan: String,
    /// Default: GET for `read`, POST otherwise.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "default_path")]
    pub path: String,
    /// The workspace the request is in.
    #[serde(default = "default_workspace")]
    pub workspace: String,
    /// The workspace an API key belongs to (default: `workspace`).
    #[serde(default)]
    pub key_workspace: Option<String>,
    /// The project the request is about (default: the workspace itself).
    #[serde(default)]
    pub project: Option<String>,
    /// Whether that project is archived (default: no).
    #[serde(default)]
    pub archived: bool,
    /// The projects the membership (or the API key) is limited to
    /// (default: all).
    #[serde(default)]
    pub granted_projects: Option<Vec<String>>,
    /// Whether the person verified their email (default: yes; API keys
    /// always count as verified).
    #[serde(default = "default_verified")]
    pub email_verified: bool,
    /// How the session was signed in: `password` (default), `oidc` or
    /// `sso` (API keys: always `api_key`, whatever the workspace's policy).
    #[serde(default)]
    pub sign_in: Option<String>,
    /// The workspace whose own IdP signed the session in (with `sso`;
    /// default: the request's workspace).
    #[serde(default)]
    pub sso_workspace: Option<String>,
    /// The methods the workspace allows (default: every one).
    #[serde(default)]
    pub allowed_sign_in_methods: Option<SignInMethods>,
    /// Seconds since the person signed in (default 0).
    #[serde(default)]
    pub session_age_secs: i64,
    /// The workspace's limit on it (default 0: none).
    #[serde(default)]
    pub max_session_age_secs: i64,
    pub expect: Expect,
    /// The policies that must determine the decision, exactly.
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// The problem code a denial must carry (a determining policy's
    /// `@code`); `none` for a denial without one.
    #[serde(default)]
    pub code: Option<String>,
}

/// A case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub decision: Decision,
    /// `None`: passed; otherwise what went wrong.
    pub failure: Option<String>,
}

impl Case {
    /// Decide this case's request with `engine`.
    pub fn decide(&self, engine: &PolicyEngine) -> Result<Decision, String> {
        let role = match self.role.as_str() {
            "none" => None,
            other => Some(other.parse::<Role>().map_err(|e| e.to_string())?),
        };
        let key_workspace = self.key_workspace.as_deref().unwrap_or(&self.workspace);
        let principal = match self.principal {
            Who::User => Principal::User("u1"),
            Who::ApiKey => Principal::ApiKey {
                id: "k1",
                workspace_id: key_workspace,
            },
        };
        let method = self.method.clone().unwrap_or_else(|| {
            if self.action == Action::READ {
                "GET"
            } else {
                "POST"
            }
            .to_string()
        });
        if self.principal == Who::ApiKey
            && self.sign_in.as_deref().is_some_and(|m| m != API_KEY_METHOD)
        {
            return Err("an API key is signed in by no method: leave `sign_in` out".to_string());
        }
        let signed_in_with = match self.principal {
            Who::ApiKey => API_KEY_METHOD,
            Who::User => self.sign_in.as_deref().unwrap_or("password"),
        };
        // Another workspace's IdP counts as an outside provider here, as
        // `SignIn::session` judges it.
        let sso_workspace = self.sso_workspace.as_deref().unwrap_or(&self.workspace);
        let judged = match signed_in_with.parse::<SignInMethod>() {
            Ok(m) => m
                .in_workspace(Some(sso_workspace), &self.workspace)
                .as_str(),
            Err(_) => signed_in_with,
        };
        let sign_in = SignIn {
            method: judged,
            sso_workspace_id: (signed_in_with == "sso").then_some(sso_workspace),
            allowed: self.allowed_sign_in_methods.unwrap_or_default(),
            session_age_secs: self.session_age_secs,
            max_session_age_secs: self.max_session_age_secs,
        };
        Ok(engine.decide(&DecisionRequest {
            project_archived: self.archived,
            principal,
            action: &self.action,
            workspace_id: &self.workspace,
            project_id: self.project.as_deref(),
            granted_projects: self.granted_projects.as_deref(),
            role,
            workspace_status: self.status.unwrap_or(WorkspaceStatus::Active),
            email_verified: self.email_verified || self.principal == Who::ApiKey,
            plan: &self.plan,
            method: &method,
            path: &self.path,
            sign_in,
        }))
    }

    fn check(&self, decision: &Decision) -> Option<String> {
        let allowed = self.expect == Expect::Allow;
        if decision.allowed != allowed {
            let got = if decision.allowed { "allow" } else { "deny" };
            return Some(format!(
                "expected {:?}, got {got} (policies {:?}, errors {:?})",
                self.expect, decision.policies, decision.errors
            ));
        }
        if let Some(want) = &self.policies {
            let mut want = want.clone();
            want.sort();
            if want[..] != decision.policies[..] {
                return Some(format!(
                    "expected determining policies {want:?}, got {:?}",
                    decision.policies
                ));
            }
        }
        match self.code.as_deref() {
            Some(want) if decision.code.as_deref().unwrap_or(NO_CODE) != want => Some(format!(
                "expected problem code `{want}`, got `{}` (policies {:?})",
                decision.code.as_deref().unwrap_or(NO_CODE),
                decision.policies
            )),
            _ => None,
        }
    }
}

/// The case files of `source`: the shipped ones, or `DIR/tests/*.toml`.
pub fn case_files(source: &PolicySource) -> Result<Vec<(String, String)>, PolicyError> {
    match source {
        PolicySource::Shipped => Ok(SHIPPED_CASES
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect()),
        PolicySource::Dir(dir) => read_case_dir(&dir.join("tests")),
    }
}

fn read_case_dir(dir: &Path) -> Result<Vec<(String, String)>, PolicyError> {
    let io = |e: std::io::Error| PolicyError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let name = path
                .file_name()
                .map(|n| format!("tests/{}", n.to_string_lossy()))
                .unwrap_or_default();
            files.push((name, text));
        }
    }
    files.sort();
    Ok(files)
}

/// Run every case of `files` with `engine`. A file that does not parse is
/// an error naming it.
pub fn run(
    engine: &PolicyEngine,
    files: &[(String, String)],
) -> Result<Vec<CaseResult>, PolicyError> {
    let mut results = Vec::new();
    for (file, text) in files {
        let parsed: CaseFile = toml::from_str(text).map_err(|e| PolicyError::Parse {
            file: file.clone(),
            line: e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].lines().count().max(1)
            }),
            message: e.message().to_string(),
        })?;
        for case in parsed.cases {
            let (decision, failure) = match case.decide(engine) {
                Ok(d) => {
                    let failure = case.check(&d);
                    (d, failure)
                }
                Err(e) => (Decision::failed(e.clone()), Some(format!("bad case: {e}"))),
            };
            results.push(CaseResult {
                file: file.clone(),
                name: case.name.clone(),
                decision,
                failure,
            });
        }
    }
    Ok(results)
}
