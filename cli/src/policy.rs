//! `wrnexus policy check|test|explain|diff`: the policy author's tools.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wrnexus_policies::cases::{self, Case, Expect, Who};
use wrnexus_policies::diff::{Change, Difference, diff};
use wrnexus_policies::invariant_set::{InvariantSet, Kind};
use wrnexus_policies::invariants::{CROSS_CHECK_LIMIT, Space};
use wrnexus_policies::proof::ProofStatus;
use wrnexus_policies::reload::load_checked_with;
use wrnexus_policies::solver::{self, ProofSettings};
use wrnexus_policies::{PolicyEngine, PolicySource, WorkspaceStatus};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and strictly validate a policy directory and its invariants
    /// (`invariants/*.cedar`), prove the invariants and that no policy can
    /// fail to evaluate (with the cvc5 solver; without one, check the
    /// invariants by sampling and say so), and run its decision tests
    /// (`tests/*.toml`): what every load does.
    Check {
        /// Directory holding `schema.cedarschema` and `*.cedar` files.
        #[arg(default_value = "policies")]
        dir: PathBuf,
        #[command(flatten)]
        solver: SolverArgs,
        /// Fail when no solver is at hand instead of sampling.
        #[arg(long)]
        require_proofs: bool,
    },
    /// Say what an edit changes, per request environment (principal type ×
    /// action × resource type): equivalent, narrows, widens, or both, with
    /// a request for each direction decided by both sets. Proven with the
    /// cvc5 solver. Exit status: 0 equivalent, 2 changed, 1 error.
    Diff {
        /// The policy directory before the edit.
        old: PathBuf,
        /// The policy directory after it.
        new: PathBuf,
        #[command(flatten)]
        solver: SolverArgs,
    },
    /// Run the decision tests of a policy directory and report each failure.
    Test {
        #[arg(default_value = "policies")]
        dir: PathBuf,
    },
    /// Decide one described request and say why. Exit status: 0 allow,
    /// 2 deny, 1 error.
    Explain(Box<ExplainArgs>),
}

/// A request to explain.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Policy directory (default: the shipped policies).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// `user` or `api_key`.
    #[arg(long, default_value = "user")]
    principal: String,
    /// The action (`read`, `write`, `admin`, `billing`, or one declared in the schema).
    #[arg(long)]
    action: String,
    /// The membership's role (a key's ceiling), or `none` for a non-member.
    #[arg(long)]
    role: String,
    /// `active` or `suspended`.
    #[arg(long, default_value = "active")]
    status: WorkspaceStatus,
    #[arg(long, default_value = "free")]
    plan: String,
    #[arg(long)]
    method: Option<String>,
    #[arg(long, default_value = "/")]
    path: String,
    #[arg(long, default_value = "w1")]
    workspace: String,
    /// For API keys: the workspace the key belongs to (default: `--workspace`).
    #[arg(long)]
    key_workspace: Option<String>,
    /// The project the request is about.
    #[arg(long)]
    project: Option<String>,
    /// Projects the membership (or API key) is limited to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    granted_projects: Option<Vec<String>>,
    /// The project (`--project`) is archived.
    #[arg(long, requires = "project")]
    archived: bool,
    /// The person has not verified their email (`context.email_verified`
    /// false; API keys always count as verified).
    #[arg(long)]
    email_unverified: bool,
    /// How the session was signed in: `password` (default), `oidc` or `sso`.
    #[arg(long)]
    sign_in: Option<String>,
    /// With `--sign-in sso`: the workspace whose IdP it was (default:
    /// `--workspace`).
    #[arg(long)]
    sso_workspace: Option<String>,
    /// The workspace's allowed sign-in methods, comma-separated (default:
    /// all; `sso` alone requires SSO).
    #[arg(long, value_delimiter = ',')]
    allowed_sign_in_methods: Option<Vec<String>>,
    /// Seconds since the person signed in.
    #[arg(long, default_value_t = 0)]
    session_age_secs: i64,
    /// The workspace's maximum session age (0: none).
    #[arg(long, default_value_t = 0)]
    max_session_age_secs: i64,
}

/// The solver the proofs run on.
#[derive(Debug, Args)]
pub struct SolverArgs {
    /// The cvc5 program (default: `CVC5` from the environment, else `cvc5`
    /// on PATH).
    #[arg(long)]
    solver: Option<PathBuf>,
    /// How long one solver query may take, in milliseconds.
    #[arg(long, default_value_t = solver::DEFAULT_TIMEOUT.as_millis() as u64)]
    solver_timeout_ms: u64,
}

impl SolverArgs {
    fn settings(&self) -> ProofSettings {
        let mut settings = match &self.solver {
            Some(path) => ProofSettings::with_solver(path, "--solver"),
            None => ProofSettings::default(),
        };
        settings.timeout = Duration::from_millis(self.solver_timeout_ms.max(1));
        settings
    }
}

fn source(dir: &std::path::Path) -> PolicySource {
    PolicySource::Dir(dir.to_path_buf())
}

pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check {
            dir,
            solver,
            require_proofs,
        } => check(&dir, &solver.settings(), require_proofs),
        PolicyCommand::Diff { old, new, solver } => diff_dirs(&old, &new, &solver.settings()),
        PolicyCommand::Test { dir } => {
            let engine = PolicyEngine::load(&source(&dir)).map_err(|e| anyhow!("{e}"))?;
            let results = cases::run(&engine, &cases::case_files(&source(&dir))?)?;
            let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
            for r in &failed {
                println!(
                    "FAIL {}: {}: {}",
                    r.file,
                    r.name,
                    r.failure.as_deref().unwrap_or_default()
                );
            }
            println!(
                "{} decision tests: {} passed, {} failed",
                results.len(),
                results.len() - failed.len(),
                failed.len()
            );
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PolicyCommand::Explain(args) => explain(*args),
    }
}

fn check(
    dir: &std::path::Path,
    settings: &ProofSettings,
    require_proofs: bool,
) -> Result<ExitCode> {
    let source = source(dir);
    let engine = load_checked_with(&source, settings).map_err(|e| anyhow!("{e}"))?;
    let invariants = InvariantSet::load(&source, engine.schema()).map_err(|e| anyhow!("{e}"))?;
    let cases = cases::run(&engine, &cases::case_files(&source)?)?;
    let status = engine
        .proofs()
        .ok_or_else(|| anyhow!("the policies were loaded without their checks"))?;
    if let (ProofStatus::Off { reason }, true) = (status, require_proofs) {
        return Err(anyhow!(
            "{}: proofs are required (--require-proofs), but {reason}",
            dir.display()
        ));
    }
    let count = |kind: Kind| invariants.iter().filter(|i| i.kind == kind).count();
    println!(
        "{}: {} policies valid against the schema; invariants hold ({} must_deny, {} must_allow); \
         {} decision tests pass",
        dir.display(),
        engine.policy_count(),
        count(Kind::MustDeny),
        count(Kind::MustAllow),
        cases.len()
    );
    let space = Space::of(&engine, &invariants).len();
    println!("proofs {status}");
    if !status.is_on() {
        eprintln!("warning: policy proofs are {status}");
        println!("checked over {space} sampled requests");
    } else if space <= CROSS_CHECK_LIMIT {
        println!("cross-checked over {space} sampled requests");
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_dirs(
    old: &std::path::Path,
    new: &std::path::Path,
    settings: &ProofSettings,
) -> Result<ExitCode> {
    let load = |dir: &std::path::Path| PolicyEngine::load(&source(dir)).map_err(|e| anyhow!("{e}"));
    let (before, after) = (load(old)?, load(new)?);
    let diff = diff(&before, &after, settings).map_err(|e| anyhow!("{e}"))?;
    let mut text = format!(
        "{} -> {}: {} (proven over {} request environments in {} ms, solver {})\n",
        old.display(),
        new.display(),
        diff.change(),
        diff.environments.len(),
        diff.elapsed.as_millis(),
        diff.solver
    );
    let difference = |text: &mut String, label: &str, d: &Difference| {
        text.push_str(&format!("    {label}: {}\n", d.counterexample));
        text.push_str(&format!("      old: {}\n", d.old));
        text.push_str(&format!("      new: {}\n", d.new));
    };
    for e in &diff.environments {
        let removed = if e.removed {
            " (not in the new schema)"
        } else {
            ""
        };
        text.push_str(&format!("  {}: {}{removed}\n", e.environment, e.change));
        if let Some(d) = &e.newly_allowed {
            difference(&mut text, "newly allowed", d);
        }
        if let Some(d) = &e.newly_denied {
            difference(&mut text, "newly denied", d);
        }
    }
    // Often read through a pager or `head`: a closed pipe ends it quietly.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if diff.change() == Change::Equivalent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let source = args.dir.as_deref().map_or(PolicySource::Shipped, source);
    let engine = PolicyEngine::load(&source).map_err(|e| anyhow!("{e}"))?;
    let principal = match args.principal.as_str() {
        "user" => Who::User,
        "api_key" => Who::ApiKey,
        other => {
            return Err(anyhow!(
                "`--principal` must be user or api_key, not `{other}`"
            ));
        }
    };
    let allowed_sign_in_methods = args
        .allowed_sign_in_methods
        .map(|names| {
            names
                .iter()
                .map(|n| n.parse::<wrnexus_policies::SignInMethod>())
                .collect::<Result<wrnexus_policies::SignInMethods, _>>()
        })
        .transpose()
        .map_err(|e| anyhow!("`--allowed-sign-in-methods`: {e}"))?;
    let case = Case {
        name: "explain".to_string(),
        principal,
        action: args.action.clone(),
        role: args.role.clone(),
        status: Some(args.status),
        plan: args.plan,
        method: args.method,
        path: args.path,
        workspace: args.workspace,
        key_workspace: args.key_workspace,
        project: args.project,
        archived: args.archived,
        granted_projects: args.granted_projects,
        email_verified: !args.email_unverified,
        sign_in: args.sign_in,
        sso_workspace: args.sso_workspace,
        allowed_sign_in_methods,
        session_age_secs: args.session_age_secs,
        max_session_age_secs: args.max_session_age_secs,
        expect: Expect::Allow,
        code: None,
        policies: None,
    };
    let decision = case.decide(&engine).map_err(|e| anyhow!("{e}"))?;
    println!(
        "decision: {}  (id {})",
        if decision.allowed { "allow" } else { "deny" },
        decision.id()
    );
    if decision.policies.is_empty() {
        println!("determining policies: none");
    } else {
        println!("determining policies:");
        for id in decision.policies.iter() {
            let origin = engine
                .origin(id)
                .map_or(String::new(), |o| format!("{}:{}", o.file, o.line));
            println!("  {id}  ({origin})");
            if let Some(text) = engine.policy_text(id) {
                for line in text.lines() {
                    println!("    | {line}");
                }
            }
        }
    }
    for error in &decision.errors {
        println!("error: {error}");
    }
    let why = if !decision.errors.is_empty() {
        "evaluation errors deny: the request could not be decided cleanly".to_string()
    } else if decision.allowed {
        format!(
            "permitted by {}, and no forbid applies",
            decision.policies.join(", ")
        )
    } else if decision.policies.is_empty() {
        "no permit matched: everything not permitted is denied (default deny)".to_string()
    } else {
        format!(
            "forbidden by {}: a matching forbid overrides every permit",
            decision.policies.join(", ")
        )
    };
    println!("why: {why}");
    if let Some(code) = &decision.code {
        println!("problem code: {code}");
    }
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
