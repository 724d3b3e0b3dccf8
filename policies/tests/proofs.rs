//! The invariants proven by the solver over every request: the shipped set
//! passes; edits that break an invariant are refused with a counterexample
//! the engine indeed decides as claimed — edits sampling cannot see
//! (relations between context values, patterns, sets of projects)
//! included; a policy that can fail to evaluate is refused; a solver that
//! hangs refuses the load in bounded time. Skipped loudly without cvc5,
//! unless `WRNEXUS_REQUIRE_SERVICES=1`.

mod common;
#[path = "common/gateway_asks.rs"]
mod gateway_asks;
#[path = "common/refuted.rs"]
mod refuted;
#[path = "common/solver.rs"]
mod solver;

use common::edited;
use refuted::{broken, edit};
use solver::solver_available;
use std::path::Path;
use std::time::{Duration, Instant};
use wrnexus_policies::PolicySource;
use wrnexus_policies::invariant_set;
use wrnexus_policies::proof::{ProofStatus, Refutation};
use wrnexus_policies::reload::{load_checked, load_checked_with};
use wrnexus_policies::solver::ProofSettings;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn shipped(file: &str) -> Result<String, std::io::Error> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
}

#[test]
fn the_shipped_set_is_proven_over_every_request_environment() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let started = Instant::now();
    let engine = load_checked(&PolicySource::Shipped)?;
    let status = engine.proofs().ok_or("no proof status")?;
    eprintln!("{status}; the whole load took {:?}", started.elapsed());
    let ProofStatus::Proven {
        invariants,
        policies,
        environments,
        ..
    } = status
    else {
        return Err(format!("{status}").into());
    };
    assert_eq!((*invariants, *policies, *environments), (8, 13, 16));
    // The shipped directory (with its invariants/ copy) too.
    let dir = PolicySource::Dir(Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    assert!(load_checked(&dir)?.proofs().is_some_and(ProofStatus::is_on));
    Ok(())
}

#[test]
fn a_relation_between_context_values_sampling_misses_is_refused() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    // Suspended workspaces may write whenever the plan equals the path: no
    // sampled request has both the same.
    let suspension = shipped("suspension.cedar")?;
    let weakened = suspension.replacen(
        "when { context.workspace_status == \"suspended\" };",
        "when { context.workspace_status == \"suspended\" }\nunless { context.plan == context.path };",
        1,
    );
    assert_ne!(weakened, suspension, "the edit applies");
    let edited = edit(&[("suspension.cedar", &weakened)])?;
    assert!(
        edited.sampled.is_empty(),
        "sampling saw it: {:?}",
        edited.sampled
    );
    let cx = broken(&edited, invariant_set::SUSPENDED_NO_WRITE)?;
    assert_eq!(
        cx.context_string("workspace_status").as_deref(),
        Some("suspended")
    );
    assert_eq!(cx.context_string("plan"), cx.context_string("path"), "{cx}");
    assert!(
        edited.refusal.contains("roles.cedar:"),
        "names the permit that allows it: {}",
        edited.refusal
    );
    Ok(())
}

#[test]
fn a_pattern_sampling_misses_is_refused() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    // Viewers may write under any path holding `/import` but not ending
    // with it: the strings sampling builds from the two patterns (`/import`,
    // `import`) match neither.
    let edited = edit(&[(
        "imports.cedar",
        "// Viewers may run imports.\n@id(\"viewer-imports\")\npermit (\n  principal,\n  \
         action == WRNexus::Action::\"write\",\n  resource\n)\nwhen\n{\n  context.role == \"viewer\" &&\n  \
         context.path like \"/*import*\" &&\n  !(context.path like \"*import\")\n};\n",
    )])?;
    assert!(
        edited.sampled.is_empty(),
        "sampling saw it: {:?}",
        edited.sampled
    );
    let cx = broken(&edited, invariant_set::VIEWER_NO_WRITE)?;
    let path = cx.context_string("path").ok_or("no path")?;
    assert!(
        path.starts_with('/') && path.contains("import") && !path.ends_with("import"),
        "{cx}"
    );
    assert!(
        edited.refusal.contains("`viewer-imports` ("),
        "{}",
        edited.refusal
    );
    Ok(())
}

#[test]
fn a_condition_on_a_set_of_projects_sampling_misses_is_refused() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    // Viewers limited to both of two projects may write: sampling tries
    // one project at a time.
    let edited = edit(&[(
        "pairs.cedar",
        "// Viewers of both projects may write.\n@id(\"viewer-pairs\")\npermit (\n  principal,\n  \
         action == WRNexus::Action::\"write\",\n  resource\n)\nwhen\n{\n  context.role == \"viewer\" &&\n  \
         context.granted_projects.containsAll\n  ([WRNexus::Project::\"p1\", WRNexus::Project::\"p9\"])\n};\n",
    )])?;
    assert!(
        edited.sampled.is_empty(),
        "sampling saw it: {:?}",
        edited.sampled
    );
    let cx = broken(&edited, invariant_set::VIEWER_NO_WRITE)?;
    assert!(cx.to_string().contains("WRNexus::Project::\"p9\""), "{cx}");
    Ok(())
}

#[test]
fn each_must_deny_invariant_is_refuted_with_its_counterexample() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let edits: [(&str, &str, &str); 4] = [
        (
            invariant_set::NON_MEMBER_DENIED,
            "projects_open.cedar",
            "// Projects are open to read.\n@id(\"projects-open\")\npermit (\n  principal is WRNexus::User,\n  \
             action == WRNexus::Action::\"read\",\n  resource is WRNexus::Project\n);\n",
        ),
        (
            invariant_set::VIEWER_NO_WRITE,
            "viewer_admin.cedar",
            "// Viewers may post to the settings.\n@id(\"viewer-settings\")\npermit (\n  principal,\n  \
             action == WRNexus::Action::\"admin\",\n  resource\n)\n\
             when { context.role == \"viewer\" && context.method == \"POST\" };\n",
        ),
        (
            invariant_set::KEY_OWN_WORKSPACE,
            "api_keys.cedar",
            "// Enterprise keys reach every workspace.\n@id(\"api-key-own-workspace\")\nforbid (\n  \
             principal is WRNexus::ApiKey,\n  action,\n  resource\n)\n\
             unless { resource in principal.workspace || context.plan == \"enterprise\" };\n",
        ),
        (
            invariant_set::SUSPENDED_NO_WRITE,
            "suspension.cedar",
            "// Suspension is handled elsewhere.\n@id(\"nothing\")\nforbid (principal, action, resource) when { false };\n",
        ),
    ];
    for (name, file, text) in edits {
        let edited = edit(&[(file, text)])?;
        let cx = broken(&edited, name)?;
        assert!(
            edited.sampled.iter().any(|s| s == name),
            "{name}: sampling agrees"
        );
        if name == invariant_set::KEY_OWN_WORKSPACE {
            assert_eq!(
                cx.context_string("plan").as_deref(),
                Some("enterprise"),
                "{cx}"
            );
        }
        if name == invariant_set::NON_MEMBER_DENIED {
            assert_eq!(cx.context_string("role").as_deref(), Some("none"), "{cx}");
            assert!(
                edited.refusal.contains("`projects-open` ("),
                "{}",
                edited.refusal
            );
        }
        // The sampled finding of the same invariant is not repeated.
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
fn a_must_allow_invariant_refuses_an_edit_that_locks_owners_out() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let owner_reads = (
        "invariants/owner_reads.cedar",
        include_str!("data/owner_reads.cedar"),
    );
    // The shipped set keeps it.
    let dir = edited(&[owner_reads])?;
    let engine = load_checked(&PolicySource::Dir(dir.path().to_path_buf()))?;
    assert!(matches!(
        engine.proofs(),
        Some(ProofStatus::Proven { invariants: 9, .. })
    ));
    let edited = edit(&[
        owner_reads,
        (
            "maintenance.cedar",
            "// Nobody reads during maintenance.\n@id(\"maintenance\")\nforbid (principal, action, resource)\n\
             when { context.path like \"/maintenance/*\" };\n",
        ),
    ])?;
    let cx = broken(&edited, "owners can always read their active workspace")?;
    assert_eq!(cx.context_string("role").as_deref(), Some("owner"), "{cx}");
    assert_eq!(
        cx.context_string("workspace_status").as_deref(),
        Some("active"),
        "{cx}"
    );
    let path = cx.context_string("path").ok_or("no path")?;
    assert!(path.starts_with("/maintenance/"), "{cx}");
    assert!(
        edited.refusal.contains("must_allow)")
            && edited.refusal.contains("denied by `maintenance` ("),
        "{}",
        edited.refusal
    );
    Ok(())
}

#[test]
fn an_operators_invariant_is_proven_too() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let invariant = "// Only owners ever pay.\n@invariant(\"must_deny\")\n@name(\"only owners pay\")\n\
        permit (principal, action == WRNexus::Action::\"billing\", resource)\n\
        when { context.role != \"owner\" };\n";
    let dir = edited(&[])?;
    std::fs::create_dir(dir.path().join("invariants"))?;
    std::fs::write(dir.path().join("invariants/billing.cedar"), invariant)?;
    let source = PolicySource::Dir(dir.path().to_path_buf());
    let engine = load_checked(&source)?;
    assert!(matches!(
        engine.proofs(),
        Some(ProofStatus::Proven { invariants: 9, .. })
    ));
    // Admins paying breaks it.
    std::fs::write(
        dir.path().join("admins_pay.cedar"),
        "// Admins may pay.\n@id(\"admins-pay\")\npermit (principal, action == WRNexus::Action::\"billing\", resource)\n\
         when { context.role == \"admin\" };\n",
    )?;
    let refusal = load_checked(&source).err().ok_or("accepted")?.to_string();
    assert!(
        refusal.contains("invariant broken: only owners pay (")
            && refusal.contains("invariants/billing.cedar:2, must_deny)")
            && refusal.contains("role: \"admin\"")
            && refusal.contains("allowed by `admins-pay` ("),
        "{refusal}"
    );
    Ok(())
}

#[test]
fn a_policy_that_can_fail_to_evaluate_is_refused() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    // It overflows for auditors, a role no request carries: sampling would
    // never see it fail.
    let edited = edit(&[(
        "auditors.cedar",
        "// Auditors read, within a quota.\n@id(\"auditors\")\npermit (\n  principal,\n  \
         action == WRNexus::Action::\"read\",\n  resource\n)\n\
         when { context.role == \"auditor\" && 9223372036854775807 + 1 > 0 };\n",
    )])?;
    let erring: Vec<_> = edited
        .refutations
        .iter()
        .filter_map(|r| match r {
            Refutation::CanError {
                policy,
                counterexample,
                ..
            } => Some((policy, counterexample)),
            Refutation::Broken { .. } => None,
        })
        .collect();
    let [(policy, cx)] = erring[..] else {
        return Err(format!("{:#?}", edited.refutations).into());
    };
    assert_eq!(policy, "auditors");
    assert_eq!(
        cx.context_string("role").as_deref(),
        Some("auditor"),
        "{cx}"
    );
    assert!(
        !cx.decide(&edited.engine).errors.is_empty(),
        "the engine errs too"
    );
    assert!(
        edited.refusal.contains("policy `auditors` (")
            && edited
                .refusal
                .contains("auditors.cedar:2) can fail to evaluate"),
        "{}",
        edited.refusal
    );
    Ok(())
}

#[test]
fn a_solver_that_hangs_refuses_the_load_in_bounded_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let hanging = dir.path().join("hanging-solver");
    std::fs::write(&hanging, "#!/bin/sh\nexec sleep 60\n")?;
    let mut permissions = std::fs::metadata(&hanging)?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&hanging, permissions)?;
    let mut settings = ProofSettings::with_solver(&hanging, "[policies] solver");
    settings.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let refusal = load_checked_with(&PolicySource::Shipped, &settings)
        .err()
        .ok_or("a set was taken unproven")?
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        refusal.contains("gave no answer within 300 ms") && refusal.contains("refused unproven"),
        "{refusal}"
    );
    Ok(())
}

#[test]
fn without_a_solver_the_sampled_check_decides_alone() -> TestResult {
    let settings = ProofSettings::with_solver("/nonexistent/cvc5", "[policies] solver");
    let engine = load_checked_with(&PolicySource::Shipped, &settings)?;
    let status = engine.proofs().ok_or("no status")?;
    assert!(
        !status.is_on() && status.to_string().contains("is not found"),
        "{status}"
    );
    // Sampling still refuses what it sees.
    let dir = edited(&[(
        "viewer_admin.cedar",
        "// Viewers may post.\n@id(\"viewer-post\")\npermit (principal, action == WRNexus::Action::\"admin\", resource)\n\
         when { context.role == \"viewer\" };\n",
    )])?;
    let refusal = load_checked_with(&PolicySource::Dir(dir.path().to_path_buf()), &settings)
        .err()
        .ok_or("accepted")?
        .to_string();
    assert!(
        refusal.contains("invariant broken: a viewer never writes (")
            && refusal.contains("was allowed by `viewer-post` ("),
        "{refusal}"
    );
    Ok(())
}
