//! Reading the Cedar schema and policy files, with errors naming file and line.

use cedar_policy::{Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The schema file's name inside a policy directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";

const SHIPPED_SCHEMA: &str = include_str!("../schema.cedarschema");
const SHIPPED_POLICIES: &[(&str, &str)] = &[
    ("api_keys.cedar", include_str!("../api_keys.cedar")),
    ("projects.cedar", include_str!("../projects.cedar")),
    ("roles.cedar", include_str!("../roles.cedar")),
    ("sign_in.cedar", include_str!("../sign_in.cedar")),
    ("suspension.cedar", include_str!("../suspension.cedar")),
];

/// Where the policies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The files shipped inside the binary (the contents of `policies/`).
    Shipped,
    /// `schema.cedarschema` and every `*.cedar` file of a directory.
    Dir(PathBuf),
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Shipped => f.write_str("the shipped policies"),
            PolicySource::Dir(dir) => write!(f, "`{}`", dir.display()),
        }
    }
}

/// One problem in the policy files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: cannot read: {message}")]
    Io { path: String, message: String },
    #[error("{dir}: no `schema.cedarschema` found")]
    MissingSchema { dir: String },
    #[error("{dir}: no `*.cedar` policy file found")]
    NoPolicies { dir: String },
    #[error("{file}:{line}: {message}")]
    Schema {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: policy id `{id}` is already used at {first}")]
    DuplicateId {
        file: String,
        line: usize,
        id: String,
        first: String,
    },
    #[error("{file}:{line}: policy `{policy}` does not validate against the schema: {message}")]
    Validation {
        file: String,
        line: usize,
        policy: String,
        message: String,
    },
    /// An invariant every policy set must keep is broken.
    #[error("{0}")]
    Invariant(String),
    /// An invariant file breaks the rules of invariant files.
    #[error("{file}:{line}: {message}")]
    InvariantFile {
        file: String,
        line: usize,
        message: String,
    },
    /// A policy can fail to evaluate (an error denies the request).
    #[error("{0}")]
    CanError(String),
    /// The proofs could not be made (the solver failed or gave no answer in
    /// time): the set is refused rather than taken unproven.
    #[error("{0}")]
    Proof(String),
    /// A decision test case failed.
    #[error("{file}: case `{name}`: {message}")]
    Case {
        file: String,
        name: String,
        message: String,
    },
}

/// Every problem found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl std::error::Error for PolicyErrors {}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A policy's origin, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// Parsed and strictly validated schema and policies.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub schema: Schema,
    pub policies: PolicySet,
    /// Where each policy was written.
    pub origins: HashMap<PolicyId, Origin>,
    /// `@code("…")` annotations: the problem code a denying forbid answers with.
    pub codes: HashMap<PolicyId, String>,
}

/// Read files from `source`, parse them, and validate in strict mode.
pub fn load(source: &PolicySource) -> Result<Loaded, PolicyErrors> {
    let (schema_file, schema_text, files) = read(source).map_err(|e| PolicyErrors(vec![e]))?;
    let mut errors = Vec::new();
    let schema = match Schema::from_cedarschema_str(&schema_text) {
        Ok((schema, _warnings)) => Some(schema),
        Err(e) => {
            errors.push(PolicyError::Schema {
                file: schema_file.clone(),
                line: first_line(&e, &schema_text),
                message: e.to_string(),
            });
            None
        }
    };

    let mut policies = PolicySet::new();
    let mut origins: HashMap<PolicyId, Origin> = HashMap::new();
    let mut codes = HashMap::new();
    let mut texts: HashMap<String, String> = HashMap::new();
    for (file, text) in &files {
        let parsed = match text.parse::<PolicySet>() {
            Ok(set) => set,
            Err(e) => {
                for err in e.iter() {
                    errors.push(PolicyError::Parse {
                        file: file.clone(),
                        line: first_line(err, text),
                        message: err.to_string(),
                    });
                }
                continue;
            }
        };
        // A template (`?principal`, `?resource`) applies only through links,
        // which policy files cannot make: taken in, it would never apply, and
        // a `forbid` the author counts on would silently not be in force.
        for template in parsed.templates() {
            errors.push(PolicyError::Parse {
                file: file.clone(),
                line: line_of(text, text.find(&template.to_string()).unwrap_or(0)),
                message: "a template (a `?principal` or `?resource` slot) never applies: \
                          policy files cannot link it; name the principal or resource, or \
                          test it in a `when` condition"
                    .to_string(),
            });
        }
        let mut in_file: Vec<(usize, &Policy)> = parsed
            .policies()
            .map(|p| (policy_offset(text, p), p))
            .collect();
        in_file.sort_by_key(|(offset, _)| *offset);
        for (offset, policy) in in_file {
            let line = line_of(text, offset);
            let id = match policy.annotation("id") {
                Some(id) => PolicyId::new(id),
                None => PolicyId::new(format!("{file}#{}", policy.id())),
            };
            if let Some(first) = origins.get(&id) {
                errors.push(PolicyError::DuplicateId {
                    file: file.clone(),
                    line,
                    id: id.to_string(),
                    first: format!("{}:{}", first.file, first.line),
                });
                continue;
            }
            if let Some(code) = policy.annotation("code") {
                codes.insert(id.clone(), code.to_string());
            }
            let renamed = policy.new_id(id.clone());
            if let Err(e) = policies.add(renamed) {
                errors.push(PolicyError::Parse {
                    file: file.clone(),
                    line,
                    message: e.to_string(),
                });
                continue;
            }
            origins.insert(
                id,
                Origin {
                    file: file.clone(),
                    line,
                },
            );
        }
        texts.insert(file.clone(), text.clone());
    }

    let Some(schema) = schema else {
        return Err(PolicyErrors(errors));
    };
    let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
    for e in result.validation_errors() {
        let origin = origins.get(e.policy_id());
        let (file, line) = match origin {
            Some(o) => {
                let line = texts
                    .get(&o.file)
                    .and_then(|t| diagnostic_offset(e).map(|off| line_of(t, off)))
                    .unwrap_or(o.line);
                (o.file.clone(), line)
            }
            None => ("<unknown>".to_string(), 0),
        };
        errors.push(PolicyError::Validation {
            file,
            line,
            policy: e.policy_id().to_string(),
            message: e.to_string(),
        });
    }
    if errors.is_empty() {
        Ok(Loaded {
            schema,
            policies,
            origins,
            codes,
        })
    } else {
        Err(PolicyErrors(errors))
    }
}

type Files = (String, String, Vec<(String, String)>);

fn read(source: &PolicySource) -> Result<Files, PolicyError> {
    match source {
        PolicySource::Shipped => Ok((
            SCHEMA_FILE.to_string(),
            SHIPPED_SCHEMA.to_string(),
            SHIPPED_POLICIES
                .iter()
                .map(|(f, t)| (f.to_string(), t.to_string()))
                .collect(),
        )),
        PolicySource::Dir(dir) => read_dir(dir),
    }
}

fn read_dir(dir: &Path) -> Result<Files, PolicyError> {
    let io = |path: &Path, e: std::io::Error| PolicyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let schema_path = dir.join(SCHEMA_FILE);
    if !schema_path.is_file() {
        return Err(PolicyError::MissingSchema {
            dir: dir.display().to_string(),
        });
    }
    let schema = std::fs::read_to_string(&schema_path).map_err(|e| io(&schema_path, e))?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "cedar") && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            files.push((path.display().to_string(), text));
        }
    }
    if files.is_empty() {
        return Err(PolicyError::NoPolicies {
            dir: dir.display().to_string(),
        });
    }
    files.sort();
    Ok((schema_path.display().to_string(), schema, files))
}

/// Byte offset of a policy in the text it was parsed from: Cedar keeps each
/// policy's original text, so find it there.
pub(crate) fn policy_offset(text: &str, policy: &Policy) -> usize {
    text.find(&policy.to_string()).unwrap_or(0)
}

fn diagnostic_offset(d: &dyn Diagnostic) -> Option<usize> {
    d.labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset())
}

pub(crate) fn first_line(d: &dyn Diagnostic, text: &str) -> usize {
    diagnostic_offset(d).map_or(1, |off| line_of(text, off))
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
