//! The invariants, written in Cedar: each is a `permit` policy describing
//! the requests it is about, with `@invariant("must_deny")` (every request
//! it matches must be denied by the policies in force) or
//! `@invariant("must_allow")` (every one must be allowed), and
//! `@name("…")`, the human name refusals carry. The built-in ones (the
//! files of `invariants/` beside this crate, compiled in) hold for every
//! set; a policy directory adds its own in its `invariants/*.cedar`.

use crate::load::{self, Origin, PolicyError, PolicyErrors, PolicySource};
use cedar_policy::{Effect, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use std::collections::HashMap;
use std::fmt;

/// The directory of a policy directory that holds its invariants.
pub const INVARIANTS_DIR: &str = "invariants";

/// The built-in invariants, compiled in.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "invariants/api_key_own_workspace.cedar",
        include_str!("../invariants/api_key_own_workspace.cedar"),
    ),
    (
        "invariants/archived_read_only.cedar",
        include_str!("../invariants/archived_read_only.cedar"),
    ),
    (
        "invariants/non_member_denied.cedar",
        include_str!("../invariants/non_member_denied.cedar"),
    ),
    (
        "invariants/project_limits.cedar",
        include_str!("../invariants/project_limits.cedar"),
    ),
    (
        "invariants/require_sso.cedar",
        include_str!("../invariants/require_sso.cedar"),
    ),
    (
        "invariants/suspended_no_write.cedar",
        include_str!("../invariants/suspended_no_write.cedar"),
    ),
    (
        "invariants/viewer_no_write.cedar",
        include_str!("../invariants/viewer_no_write.cedar"),
    ),
];

/// The names of the built-in invariants.
pub const SUSPENDED_NO_WRITE: &str = "a suspended workspace never allows a write";
pub const NON_MEMBER_DENIED: &str = "a non-member is always denied";
pub const KEY_OWN_WORKSPACE: &str = "an API key never acts outside its workspace";
pub const VIEWER_NO_WRITE: &str = "a viewer never writes";
pub const ARCHIVED_ONLY_READ: &str = "an archived project is only read";
pub const REQUIRE_SSO: &str = "a workspace requiring SSO admits only sessions of its own IdP";
pub const LIMITED_NOT_GRANTED: &str =
    "a project-limited principal never acts on a project not granted to it";
pub const LIMITED_WORKSPACE_READ: &str =
    "a project-limited principal only reads the workspace itself";

/// What the policies in force must do with the requests an invariant matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Deny every one: no request is both matched and allowed (disjoint).
    MustDeny,
    /// Allow every one: matching implies being allowed.
    MustAllow,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MustDeny => "must_deny",
            Kind::MustAllow => "must_allow",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        match text {
            "must_deny" => Some(Kind::MustDeny),
            "must_allow" => Some(Kind::MustAllow),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invariant.
#[derive(Debug, Clone)]
pub struct Invariant {
    /// Its `@name`.
    pub name: String,
    pub kind: Kind,
    /// Where it is written.
    pub origin: Origin,
    /// Compiled in (or a directory's own).
    pub built_in: bool,
    /// The policy describing the requests it is about, under an id of its
    /// own in [`InvariantSet::policy_set`].
    pub policy: Policy,
}

impl Invariant {
    /// Its name and where it is written, for messages.
    pub fn named(&self) -> String {
        format!("{} ({}:{})", self.name, self.origin.file, self.origin.line)
    }
}

/// Every invariant a policy set is held to, strictly validated against its schema.
#[derive(Debug, Clone)]
pub struct InvariantSet {
    invariants: Vec<Invariant>,
    policies: PolicySet,
    by_id: HashMap<PolicyId, usize>,
}

impl InvariantSet {
    /// The built-in invariants and those of `source`'s `invariants/`
    /// directory, validated against `schema`.
    pub fn load(source: &PolicySource, schema: &Schema) -> Result<InvariantSet, PolicyErrors> {
        let mut files: Vec<(String, String, bool)> = BUILT_IN
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string(), true))
            .collect();
        if let PolicySource::Dir(dir) = source {
            let sub = dir.join(INVARIANTS_DIR);
            files.extend(read_dir(&sub).map_err(|e| PolicyErrors(vec![e]))?);
        }
        let mut errors = Vec::new();
        let mut set = InvariantSet {
            invariants: Vec::new(),
            policies: PolicySet::new(),
            by_id: HashMap::new(),
        };
        for (file, text, built_in) in &files {
            set.add_file(file, text, *built_in, &mut errors);
        }
        let result = Validator::new(schema.clone()).validate(&set.policies, ValidationMode::Strict);
        for e in result.validation_errors() {
            let origin = set.get(e.policy_id().as_ref()).map(|i| i.origin.clone());
            let (file, line) = origin.map_or(("<unknown>".to_string(), 0), |o| (o.file, o.line));
            let name = set.get(e.policy_id().as_ref()).map(|i| i.name.clone());
            errors.push(PolicyError::Validation {
                file,
                line,
                policy: format!("invariant `{}`", name.unwrap_or_default()),
                message: e.to_string(),
            });
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(PolicyErrors(errors))
        }
    }

    /// Parse one file's invariants into the set.
    fn add_file(&mut self, file: &str, text: &str, built_in: bool, errors: &mut Vec<PolicyError>) {
        let parsed = match text.parse::<PolicySet>() {
            Ok(parsed) => parsed,
            Err(e) => {
                for err in e.iter() {
                    errors.push(PolicyError::Parse {
                        file: file.to_string(),
                        line: load::first_line(err, text),
                        message: err.to_string(),
                    });
                }
                return;
            }
        };
        let rule = |line: usize, message: String| PolicyError::InvariantFile {
            file: file.to_string(),
            line,
            message,
        };
        if let Some(template) = parsed.templates().next() {
            let line = load::line_of(text, text.find(&template.to_string()).unwrap_or(0));
            errors.push(rule(line, "an invariant cannot be a template".to_string()));
        }
        let mut in_file: Vec<(usize, &Policy)> = parsed
            .policies()
            .map(|p| (load::policy_offset(text, p), p))
            .collect();
        in_file.sort_by_key(|(offset, _)| *offset);
        for (offset, policy) in in_file {
            let line = load::line_of(text, offset);
            if policy.effect() != Effect::Permit {
                errors.push(rule(
                    line,
                    "an invariant is a `permit` describing the requests it is about; \
                     `@invariant` says what the policies must do with them"
                        .to_string(),
                ));
                continue;
            }
            let Some(kind) = policy.annotation("invariant").and_then(Kind::parse) else {
                errors.push(rule(
                    line,
                    "an invariant needs `@invariant(\"must_deny\")` or `@invariant(\"must_allow\")`"
                        .to_string(),
                ));
                continue;
            };
            let name = match policy.annotation("name").map(str::trim) {
                Some(name) if !name.is_empty() => name.to_string(),
                _ => {
                    errors.push(rule(
                        line,
                        "an invariant needs `@name(\"…\")`: refusals name it".to_string(),
                    ));
                    continue;
                }
            };
            if let Some(first) = self.invariants.iter().find(|i| i.name == name) {
                // A copy of a built-in invariant (a directory copied from the
                // shipped one) is the same invariant: held once.
                if first.built_in && policy.to_json().ok() == first.policy.to_json().ok() {
                    continue;
                }
                let why = if first.built_in {
                    "is built in and cannot be changed here; give this one another `@name`"
                } else {
                    "is already defined"
                };
                errors.push(rule(
                    line,
                    format!(
                        "invariant `{name}` {why} ({}:{})",
                        first.origin.file, first.origin.line
                    ),
                ));
                continue;
            }
            let id = PolicyId::new(format!("invariant-{}", self.invariants.len()));
            let policy = policy.new_id(id.clone());
            if let Err(e) = self.policies.add(policy.clone()) {
                errors.push(rule(line, e.to_string()));
                continue;
            }
            self.by_id.insert(id, self.invariants.len());
            self.invariants.push(Invariant {
                name,
                kind,
                origin: Origin {
                    file: file.to_string(),
                    line,
                },
                built_in,
                policy,
            });
        }
    }

    /// Every invariant, built-in ones first.
    pub fn iter(&self) -> impl Iterator<Item = &Invariant> {
        self.invariants.iter()
    }

    pub fn len(&self) -> usize {
        self.invariants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.invariants.is_empty()
    }

    /// All the invariants' policies, each under its own id.
    pub fn policy_set(&self) -> &PolicySet {
        &self.policies
    }

    /// The invariant whose policy has id `id`.
    pub fn get(&self, id: &str) -> Option<&Invariant> {
        self.by_id
            .get(&PolicyId::new(id))
            .and_then(|&i| self.invariants.get(i))
    }

    /// The invariant named `name`.
    pub fn named(&self, name: &str) -> Option<&Invariant> {
        self.invariants.iter().find(|i| i.name == name)
    }
}

/// The `*.cedar` files of an `invariants/` directory (none if it is absent).
fn read_dir(dir: &std::path::Path) -> Result<Vec<(String, String, bool)>, PolicyError> {
    let io = |path: &std::path::Path, e: std::io::Error| PolicyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "cedar") && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            files.push((path.display().to_string(), text, false));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
#[path = "invariant_set_tests.rs"]
mod tests;
