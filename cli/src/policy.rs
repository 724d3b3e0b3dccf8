//! `wrnexus policy check|test|explain`: the policy author's tools.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use wrnexus_policies::cases::{self, Case, Expect, Who};
use wrnexus_policies::reload::load_checked;
use wrnexus_policies::{PolicyEngine, PolicySource, WorkspaceStatus};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and strictly validate a policy directory, check the invariants
    /// and run its decision tests (`tests/*.toml`): what every load does.
    Check {
        /// Directory holding `schema.cedarschema` and `*.cedar` files.
        #[arg(default_value = "policies")]
        dir: PathBuf,
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
    /// Projects the membership is limited to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    granted_projects: Option<Vec<String>>,
}

fn source(dir: &std::path::Path) -> PolicySource {
    PolicySource::Dir(dir.to_path_buf())
}

pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check { dir } => {
            let engine = load_checked(&source(&dir)).map_err(|e| anyhow!("{e}"))?;
            let cases = cases::run(&engine, &cases::case_files(&source(&dir))?)?;
            println!(
                "{}: {} policies valid against the schema; invariants hold; {} decision tests pass",
                dir.display(),
                engine.policy_count(),
                cases.len()
            );
            Ok(ExitCode::SUCCESS)
        }
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
        granted_projects: args.granted_projects,
        expect: Expect::Allow,
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
