//! `diff`: what an edit changes, proven per request environment — a
//! reformat is equivalent, a new forbid narrows, a new permit widens, a
//! moved right does both — each direction with a request both sets decide
//! as claimed. Skipped loudly without cvc5, unless
//! `WRNEXUS_REQUIRE_SERVICES=1`.

mod common;
#[path = "common/solver.rs"]
mod solver;

use common::edited;
use solver::solver_available;
use wrnexus_policies::diff::{Change, Diff, diff};
use wrnexus_policies::solver::ProofSettings;
use wrnexus_policies::{PolicyEngine, PolicySource};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn shipped(file: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
}

/// The diff from the shipped set to an edited copy, and both engines.
fn diff_to(
    edits: &[(&str, &str)],
) -> Result<(Diff, PolicyEngine, PolicyEngine), Box<dyn std::error::Error>> {
    let old = PolicyEngine::load(&PolicySource::Shipped)?;
    let dir = edited(edits)?;
    let new = PolicyEngine::load(&PolicySource::Dir(dir.path().to_path_buf()))?;
    let diff = diff(&old, &new, &ProofSettings::default())?;
    Ok((diff, old, new))
}

#[test]
fn a_reformat_is_equivalent_everywhere() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    // Another layout, other comments, one rule split in two.
    let roles = shipped("roles.cedar")?
        .replace(
            "permit (\n  principal,\n  action == WRNexus::Action::\"read\",\n  resource\n)",
            "permit (principal, action == WRNexus::Action::\"read\", resource)",
        )
        .replace(
            "// Money is the owner's business alone.",
            "// Only owners pay.",
        );
    let split = roles.replace(
        "when { [\"owner\", \"admin\"].contains(context.role) };",
        "when { context.role == \"owner\" };\n\n// Admins too.\n@id(\"role-admin-admins\")\npermit (\n  principal,\n  action == WRNexus::Action::\"admin\",\n  resource\n)\nwhen { context.role == \"admin\" };",
    );
    assert_ne!(split, roles, "the split applies");
    let (diff, ..) = diff_to(&[("roles.cedar", &split)])?;
    assert_eq!(diff.environments.len(), 16);
    assert!(
        diff.environments
            .iter()
            .all(|e| e.change == Change::Equivalent && !e.removed)
    );
    assert_eq!(diff.change(), Change::Equivalent);
    Ok(())
}

#[test]
fn a_new_forbid_narrows_with_a_newly_denied_request() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let (diff, old, new) = diff_to(&[(
        "beta.cedar",
        "// Beta pages are closed.\n@id(\"beta-closed\")\nforbid (principal, action, resource)\n\
         when { context.path like \"/beta/*\" };\n",
    )])?;
    assert_eq!(diff.change(), Change::Narrows);
    let changed: Vec<_> = diff
        .environments
        .iter()
        .filter(|e| e.change != Change::Equivalent)
        .collect();
    assert!(!changed.is_empty());
    for e in changed {
        assert_eq!(e.change, Change::Narrows, "{}", e.environment);
        assert!(e.newly_allowed.is_none());
        let d = e.newly_denied.as_ref().ok_or("no counterexample")?;
        assert!(d.counterexample.decide(&old).allowed && !d.counterexample.decide(&new).allowed);
        assert!(d.new.starts_with("denied by `beta-closed` ("), "{}", d.new);
        assert!(d.old.starts_with("allowed by `role-"), "{}", d.old);
        let path = d.counterexample.context_string("path").ok_or("no path")?;
        assert!(path.starts_with("/beta/"), "{path}");
    }
    Ok(())
}

#[test]
fn a_new_permit_widens_with_a_newly_allowed_request() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let (diff, old, new) = diff_to(&[(
        "viewer_settings.cedar",
        "// Viewers may look at the settings.\n@id(\"viewer-settings\")\npermit (\n  principal,\n  \
         action == WRNexus::Action::\"admin\",\n  resource\n)\n\
         when { context.role == \"viewer\" && context.method == \"GET\" };\n",
    )])?;
    assert_eq!(diff.change(), Change::Widens);
    let widened: Vec<_> = diff
        .environments
        .iter()
        .filter(|e| e.change == Change::Widens)
        .collect();
    assert_eq!(widened.len(), 4, "admin, for both principals and resources");
    for e in widened {
        assert!(e.environment.contains(" × admin × "), "{}", e.environment);
        let d = e.newly_allowed.as_ref().ok_or("no counterexample")?;
        assert!(!d.counterexample.decide(&old).allowed && d.counterexample.decide(&new).allowed);
        assert!(
            d.new.starts_with("allowed by `viewer-settings` ("),
            "{}",
            d.new
        );
        assert_eq!(
            d.counterexample.context_string("role").as_deref(),
            Some("viewer")
        );
    }
    Ok(())
}

#[test]
fn moving_a_right_narrows_and_widens() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let roles = shipped("roles.cedar")?;
    let moved = roles.replace(
        "when { [\"owner\", \"admin\"].contains(context.role) };",
        "when { [\"owner\", \"member\"].contains(context.role) };",
    );
    assert_ne!(moved, roles);
    let (diff, ..) = diff_to(&[("roles.cedar", &moved)])?;
    assert_eq!(diff.change(), Change::Both);
    let both = diff
        .environments
        .iter()
        .find(|e| e.change == Change::Both)
        .ok_or("none both")?;
    let denied = both.newly_denied.as_ref().ok_or("no newly denied")?;
    let allowed = both.newly_allowed.as_ref().ok_or("no newly allowed")?;
    assert_eq!(
        denied.counterexample.context_string("role").as_deref(),
        Some("admin")
    );
    assert_eq!(
        allowed.counterexample.context_string("role").as_deref(),
        Some("member")
    );
    Ok(())
}
