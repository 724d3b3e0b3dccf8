//! The invariants checked by sampling (the whole check without a solver):
//! each refuses a set that breaks it through a door the shipped rules leave
//! closed — a user on a project, a method, a path or a plan — naming the
//! invariant, the request and the policies that decided it.

mod common;

use common::edited;
use std::path::Path;
use std::time::Instant;
use wrnexus_policies::invariant_set::{self, InvariantSet};
use wrnexus_policies::invariants::{self, Space};
use wrnexus_policies::reload::load_checked_with;
use wrnexus_policies::solver::ProofSettings;
use wrnexus_policies::{PolicyEngine, PolicySource};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The `must_allow` invariant of `data/owner_reads.cedar`.
const OWNER_READS: &str = "owners can always read their active workspace";

/// No solver: sampling is the whole check.
fn without_solver() -> ProofSettings {
    ProofSettings::with_solver("/nonexistent/wrnexus-test-solver", "the test")
}

/// The invariants a set breaks, with the whole refusal message.
fn refusal(edits: &[(&str, &str)]) -> Result<(Vec<String>, String), Box<dyn std::error::Error>> {
    let dir = edited(edits)?;
    let source = PolicySource::Dir(dir.path().to_path_buf());
    let engine = PolicyEngine::load(&source)?;
    let invariants = InvariantSet::load(&source, engine.schema())?;
    let broken = invariants::check(&engine, &invariants)
        .into_iter()
        .map(|v| v.invariant)
        .collect();
    let message = load_checked_with(&source, &without_solver())
        .err()
        .ok_or("the set was accepted")?
        .to_string();
    Ok((broken, message))
}

#[test]
fn the_shipped_set_keeps_every_invariant_over_the_whole_space() -> TestResult {
    let engine = PolicyEngine::shipped()?;
    let invariants = InvariantSet::load(&PolicySource::Shipped, engine.schema())?;
    let space = Space::of(&engine, &invariants);
    let started = Instant::now();
    let violations = invariants::check(&engine, &invariants);
    eprintln!(
        "{} requests in the space; checked in {:?}",
        space.len(),
        started.elapsed()
    );
    assert!(violations.is_empty(), "{violations:#?}");
    Ok(())
}

#[test]
fn users_on_projects_regardless_of_role_break_non_member_denial() -> TestResult {
    let (broken, message) = refusal(&[(
        "projects_open.cedar",
        "// Projects are open to read.\n@id(\"projects-open\")\npermit (\n  principal is WRNexus::User,\n  action == WRNexus::Action::\"read\",\n  resource is WRNexus::Project\n);\n",
    )])?;
    assert_eq!(broken, [invariant_set::NON_MEMBER_DENIED], "{message}");
    assert!(
        message.contains(
            "invariant broken: a non-member is always denied (invariants/non_member_denied.cedar:"
        ) && message.contains("with role `none` on project `p1`")
            && message.contains("was allowed by `projects-open` (")
            && message.contains("projects_open.cedar:2)"),
        "{message}"
    );
    Ok(())
}

#[test]
fn viewers_administering_with_post_break_viewer_never_writes() -> TestResult {
    let (broken, message) = refusal(&[(
        "viewer_admin.cedar",
        "// Viewers may post to the settings.\n@id(\"viewer-settings\")\npermit (\n  principal,\n  action == WRNexus::Action::\"admin\",\n  resource\n)\nwhen { context.role == \"viewer\" && context.method == \"POST\" };\n",
    )])?;
    assert_eq!(broken, [invariant_set::VIEWER_NO_WRITE], "{message}");
    assert!(
        message.contains("invariant broken: a viewer never writes (")
            && message.contains("`admin` by a user with role `viewer`")
            && message.contains("POST `")
            && message.contains("`viewer-settings` (")
            && message.contains("viewer_admin.cedar:2)"),
        "{message}"
    );
    Ok(())
}

#[test]
fn an_exception_for_a_path_breaks_suspended_read_only() -> TestResult {
    let suspension =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("suspension.cedar"))?;
    let weakened = suspension.replacen(
        "when { context.workspace_status == \"suspended\" };",
        "when { context.workspace_status == \"suspended\" }\nunless { context.path like \"/imports/*\" };",
        1,
    );
    assert_ne!(weakened, suspension, "the edit applies");
    let (broken, message) = refusal(&[("suspension.cedar", &weakened)])?;
    assert_eq!(broken, [invariant_set::SUSPENDED_NO_WRITE], "{message}");
    assert!(
        message.contains("invariant broken: a suspended workspace never allows a write (")
            && message.contains("(suspended workspace")
            && message.contains("`/imports/`")
            && message.contains("`role-write` (")
            && message.contains("roles.cedar:13)"),
        "{message}"
    );
    Ok(())
}

#[test]
fn dropping_the_suspension_forbid_breaks_suspended_read_only() -> TestResult {
    let (broken, message) = refusal(&[(
        "suspension.cedar",
        "// Suspension is handled elsewhere.\n@id(\"nothing\")\nforbid (principal, action, resource) when { false };\n",
    )])?;
    assert!(
        broken
            .iter()
            .any(|b| b == invariant_set::SUSPENDED_NO_WRITE),
        "{message}"
    );
    assert!(
        !broken.iter().any(|b| b == invariant_set::VIEWER_NO_WRITE),
        "{message}"
    );
    Ok(())
}

#[test]
fn keys_of_a_plan_acting_anywhere_break_key_own_workspace() -> TestResult {
    let (broken, message) = refusal(&[(
        "api_keys.cedar",
        "// Enterprise keys reach every workspace.\n@id(\"api-key-own-workspace\")\nforbid (\n  principal is WRNexus::ApiKey,\n  action,\n  resource\n)\nunless { resource in principal.workspace || context.plan == \"enterprise\" };\n",
    )])?;
    assert_eq!(broken, [invariant_set::KEY_OWN_WORKSPACE], "{message}");
    assert!(
        message.contains("invariant broken: an API key never acts outside its workspace (")
            && message.contains("an API key of workspace `w2`")
            && message.contains("plan `enterprise`"),
        "{message}"
    );
    Ok(())
}

#[test]
fn locking_owners_out_of_a_plan_breaks_an_operators_must_allow_invariant() -> TestResult {
    let (broken, message) = refusal(&[
        (
            "invariants/owner_reads.cedar",
            include_str!("data/owner_reads.cedar"),
        ),
        (
            "legacy.cedar",
            "// The legacy plan is closed.\n@id(\"legacy-closed\")\nforbid (principal, action, resource)\nwhen { context.plan == \"legacy\" };\n",
        ),
    ])?;
    assert_eq!(broken, [OWNER_READS], "{message}");
    assert!(
        message.contains("invariant broken: owners can always read their active workspace (")
            && message.contains("invariants/owner_reads.cedar:5, must_allow)")
            && message.contains("must_allow)")
            && message.contains("plan `legacy`")
            && message.contains("was denied by `legacy-closed` ("),
        "{message}"
    );
    Ok(())
}
