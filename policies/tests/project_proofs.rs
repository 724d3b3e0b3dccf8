//! The project invariants proven by the solver: an archived project is only
//! read, and a project-limited principal (a membership or an API key) never
//! acts on a project not granted to it, and only reads the workspace
//! itself. Edits that break each are refused with a counterexample the
//! engine decides as claimed, and sampling agrees. Skipped loudly without
//! cvc5, unless `WRNEXUS_REQUIRE_SERVICES=1`.

mod common;
#[path = "common/gateway_asks.rs"]
mod gateway_asks;
#[path = "common/refuted.rs"]
mod refuted;
#[path = "common/solver.rs"]
mod solver;

use cedar_policy::EvalResult;
use refuted::{broken, edit};
use solver::solver_available;
use wrnexus_policies::counterexample::Counterexample;
use wrnexus_policies::engine::PROJECT_ARCHIVED;
use wrnexus_policies::invariant_set;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `projects.cedar` with `policy`'s condition replaced by `condition`.
fn projects_with(policy: &str, condition: &str) -> Result<String, Box<dyn std::error::Error>> {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("projects.cedar"),
    )?;
    let at = shipped
        .find(&format!("@id(\"{policy}\")"))
        .ok_or(format!("no `{policy}` in projects.cedar"))?;
    let when = at + shipped[at..].find("when").ok_or("no condition")?;
    let end = when + shipped[when..].find(';').ok_or("no end")?;
    Ok(format!(
        "{}{condition}{}",
        &shipped[..when],
        &shipped[end..]
    ))
}

/// Whether the counterexample's resource is a project that is archived.
fn on_an_archived_project(cx: &Counterexample) -> bool {
    cx.request
        .resource()
        .and_then(|r| cx.entities.get(r))
        .and_then(|p| p.attr(PROJECT_ARCHIVED))
        .is_some_and(|a| matches!(a, Ok(EvalResult::Bool(true))))
}

fn is_limited(cx: &Counterexample) -> bool {
    cx.request
        .context()
        .and_then(|c| c.get("project_limited"))
        .is_some_and(|v| matches!(v, EvalResult::Bool(true)))
}

#[test]
fn each_project_invariant_is_refuted_with_its_counterexample() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let edits = [
        (
            // Imports still land in archived projects.
            invariant_set::ARCHIVED_ONLY_READ,
            projects_with(
                "project-read-only",
                "when { resource.archived && action != WRNexus::Action::\"read\" }\n\
                 unless { context.path like \"/import/*\" }",
            )?,
        ),
        (
            // Limited members may look into every project.
            invariant_set::LIMITED_NOT_GRANTED,
            projects_with(
                "project-not-granted",
                "when\n{\n  context.project_limited &&\n  \
                 !(context.granted_projects.contains(resource)) &&\n  \
                 action != WRNexus::Action::\"read\"\n}",
            )?,
        ),
        (
            // Limited admins may still manage the workspace.
            invariant_set::LIMITED_WORKSPACE_READ,
            projects_with(
                "project-limited-workspace",
                "when\n{\n  context.project_limited &&\n  \
                 !(action in [WRNexus::Action::\"read\", WRNexus::Action::\"admin\"])\n}",
            )?,
        ),
    ];
    for (name, text) in edits {
        let edited = edit(&[("projects.cedar", &text)])?;
        let cx = broken(&edited, name)?;
        assert!(
            edited.sampled.iter().any(|s| s == name),
            "{name}: sampling agrees"
        );
        let resource = cx.request.resource().map(|r| r.type_name().basename());
        if name == invariant_set::ARCHIVED_ONLY_READ {
            assert!(on_an_archived_project(cx), "{cx}");
            assert!(
                cx.context_string("path")
                    .is_some_and(|p| p.starts_with("/import/")),
                "{cx}"
            );
        } else if name == invariant_set::LIMITED_NOT_GRANTED {
            assert!(is_limited(cx), "{cx}");
            assert_eq!(resource, Some("Project"), "{cx}");
        } else {
            assert!(is_limited(cx), "{cx}");
            assert_eq!(resource, Some("Workspace"), "{cx}");
        }
        assert_eq!(
            edited
                .refusal
                .matches(&format!("invariant broken: {name} ("))
                .count(),
            1,
            "{}",
            edited.refusal
        );
    }
    Ok(())
}

#[test]
fn without_the_archived_rule_the_set_is_refused() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let shipped = projects_with("project-read-only", "when { false }")?;
    let edited = edit(&[("projects.cedar", &shipped)])?;
    let cx = broken(&edited, invariant_set::ARCHIVED_ONLY_READ)?;
    assert!(on_an_archived_project(cx), "{cx}");
    assert!(
        edited.refusal.contains("archived: true"),
        "the refusal shows the archived project: {}",
        edited.refusal
    );
    Ok(())
}
