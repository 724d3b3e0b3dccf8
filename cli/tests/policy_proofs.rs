//! `wrnexus policy check` proving through the real binary (the proof time
//! reported, a refused edit shown with its counterexample, proofs off said
//! loudly) and `wrnexus policy diff` classifying a narrowing, a widening and
//! a reformat. The proving tests skip loudly without cvc5, unless
//! `WRNEXUS_REQUIRE_SERVICES=1`.

use std::path::Path;
use std::process::Command;
use wrnexus_policies::solver::ProofSettings;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn wrnexus(args: &[&str]) -> Result<(i32, String, String), std::io::Error> {
    let out = Command::new(env!("CARGO_BIN_EXE_wrnexus"))
        .args(args)
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn solver_available() -> Result<bool, String> {
    match ProofSettings::default().probe() {
        Ok(_) => Ok(true),
        Err(why) if std::env::var("WRNEXUS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => Err(
            format!("cvc5 is required (WRNEXUS_REQUIRE_SERVICES=1) but unusable: {why}"),
        ),
        Err(why) => {
            eprintln!("\n!!! SKIPPING the policy proofs: {why} !!!\n");
            Ok(false)
        }
    }
}

/// A copy of the shipped policy directory (policies, invariants, cases).
fn copy_shipped(to: &Path) -> std::io::Result<()> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    for sub in ["", "invariants", "tests"] {
        std::fs::create_dir_all(to.join(sub))?;
        for entry in std::fs::read_dir(from.join(sub))? {
            let path = entry?.path();
            let keep = path
                .extension()
                .is_some_and(|e| e == "cedar" || e == "cedarschema" || e == "toml");
            if let (true, Some(name)) = (keep, path.file_name()) {
                std::fs::copy(&path, to.join(sub).join(name))?;
            }
        }
    }
    Ok(())
}

fn shipped_copy() -> Result<(tempfile::TempDir, String), std::io::Error> {
    let dir = tempfile::tempdir()?;
    copy_shipped(dir.path())?;
    let path = dir.path().display().to_string();
    Ok((dir, path))
}

#[test]
fn check_reports_the_proofs_and_their_time() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let (code, out, err) = wrnexus(&["policy", "check", dir])?;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("invariants hold (8 must_deny, 0 must_allow)"),
        "{out}"
    );
    assert!(
        out.contains(
            "proofs on: 8 invariants hold and 13 policies never err, proven over 16 request environments in "
        ) && out.contains(" ms (solver `cvc5` on PATH)"),
        "{out}"
    );
    assert!(
        out.contains("cross-checked over 4320 sampled requests"),
        "{out}"
    );
    Ok(())
}

#[test]
fn check_without_a_solver_says_proofs_are_off() -> TestResult {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let missing = ["policy", "check", dir, "--solver", "/nonexistent/cvc5"];
    let (code, out, err) = wrnexus(&missing)?;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("proofs off: no solver: `/nonexistent/cvc5` from --solver is not found"),
        "{out}"
    );
    assert!(err.contains("warning: policy proofs are off"), "{err}");
    let (code, out, err) = wrnexus(&[&missing[..], &["--require-proofs"]].concat())?;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("proofs are required (--require-proofs)"),
        "{err}"
    );
    Ok(())
}

#[test]
fn check_refuses_an_edit_sampling_misses_with_the_request_that_breaks_it() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let (dir, path) = shipped_copy()?;
    let suspension = std::fs::read_to_string(dir.path().join("suspension.cedar"))?;
    let weakened = suspension.replacen(
        "when { context.workspace_status == \"suspended\" };",
        "when { context.workspace_status == \"suspended\" }\nunless { context.plan == context.path };",
        1,
    );
    assert_ne!(weakened, suspension, "the edit applies");
    std::fs::write(dir.path().join("suspension.cedar"), weakened)?;
    // The decision tests and sampling do not notice.
    let (code, out, err) = wrnexus(&["policy", "test", &path])?;
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = wrnexus(&["policy", "check", &path, "--solver", "/nonexistent/cvc5"])?;
    assert_eq!(code, 0, "sampling alone accepts it: {err}");
    // The proof does.
    let (code, out, err) = wrnexus(&["policy", "check", &path])?;
    assert_eq!(code, 1, "{out}{err}");
    let line = err
        .lines()
        .find(|l| l.contains("invariant broken: a suspended workspace never allows a write ("))
        .ok_or_else(|| format!("not refused: {err}"))?;
    assert!(
        line.contains("suspended_no_write.cedar:")
            && line.contains("must_deny): proven false over ")
            && line.contains("; counterexample: principal WRNexus::")
            && line.contains("workspace_status: \"suspended\"")
            && line.contains("; the policies in force: allowed by `role-write` (")
            && line.contains("roles.cedar:13)"),
        "{line}"
    );
    // Its plan and path are equal: the relation no sample has.
    let value = |name: &str| {
        line.split(&format!("{name}: \""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_string)
    };
    assert_eq!(value("plan"), value("path"), "{line}");
    Ok(())
}

#[test]
fn diff_classifies_a_narrowing_a_widening_and_a_reformat() -> TestResult {
    if !solver_available()? {
        return Ok(());
    }
    let (_old_dir, old) = shipped_copy()?;

    // A reformat: another layout and comment, the same decisions.
    let (reformat_dir, reformat) = shipped_copy()?;
    let roles = std::fs::read_to_string(reformat_dir.path().join("roles.cedar"))?;
    let reformatted = roles
        .replace(
            "// Money is the owner's business alone.",
            "// Only owners pay.",
        )
        .replace(
            "  principal,\n  action == WRNexus::Action::\"billing\",\n  resource\n",
            "principal, action == WRNexus::Action::\"billing\", resource",
        );
    assert_ne!(reformatted, roles);
    std::fs::write(reformat_dir.path().join("roles.cedar"), reformatted)?;
    let (code, out, err) = wrnexus(&["policy", "diff", &old, &reformat])?;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(": equivalent (proven over 16 request environments in "),
        "{out}"
    );
    assert_eq!(out.matches(": equivalent\n").count(), 16, "{out}");

    // A narrowing: beta pages closed.
    let (narrow_dir, narrow) = shipped_copy()?;
    std::fs::write(
        narrow_dir.path().join("beta.cedar"),
        "// Beta pages are closed.\n@id(\"beta-closed\")\nforbid (principal, action, resource)\n\
         when { context.path like \"/beta/*\" };\n",
    )?;
    let (code, out, err) = wrnexus(&["policy", "diff", &old, &narrow])?;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains(": narrows (proven over 16 request environments"),
        "{out}"
    );
    assert!(
        out.contains("  User × write × Workspace: narrows\n"),
        "{out}"
    );
    assert!(
        out.contains("    newly denied: principal WRNexus::User::")
            && out.contains("path: \"/beta/")
            && out.contains("      old: allowed by `role-write` (")
            && out.contains("      new: denied by `beta-closed` ("),
        "{out}"
    );
    assert!(!out.contains("newly allowed"), "{out}");

    // A widening: viewers may look at the settings.
    let (widen_dir, widen) = shipped_copy()?;
    std::fs::write(
        widen_dir.path().join("viewer_settings.cedar"),
        "// Viewers may look at the settings.\n@id(\"viewer-settings\")\npermit (\n  principal,\n  \
         action == WRNexus::Action::\"admin\",\n  resource\n)\n\
         when { context.role == \"viewer\" && context.method == \"GET\" };\n",
    )?;
    let (code, out, err) = wrnexus(&["policy", "diff", &old, &widen])?;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains(": widens (proven over 16 request environments"),
        "{out}"
    );
    assert!(
        out.contains("  User × admin × Workspace: widens\n"),
        "{out}"
    );
    assert!(
        out.contains("  User × read × Workspace: equivalent\n"),
        "{out}"
    );
    assert!(
        out.contains("    newly allowed: principal WRNexus::")
            && out.contains("role: \"viewer\"")
            && out.contains("      old: denied: no permit matches it (default deny)")
            && out.contains("      new: allowed by `viewer-settings` ("),
        "{out}"
    );
    assert!(!out.contains("newly denied"), "{out}");

    // Both ways at once: administering moved from admins to members.
    let (moved_dir, moved) = shipped_copy()?;
    let roles = std::fs::read_to_string(moved_dir.path().join("roles.cedar"))?;
    let shifted = roles.replace(
        "when { [\"owner\", \"admin\"].contains(context.role) };",
        "when { [\"owner\", \"member\"].contains(context.role) };",
    );
    assert_ne!(shifted, roles);
    std::fs::write(moved_dir.path().join("roles.cedar"), shifted)?;
    let (code, out, err) = wrnexus(&["policy", "diff", &old, &moved])?;
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains(": narrows and widens (proven"), "{out}");
    assert!(
        out.contains("  User × admin × Workspace: narrows and widens\n"),
        "{out}"
    );
    assert!(
        out.contains("newly allowed: ") && out.contains("newly denied: "),
        "{out}"
    );
    Ok(())
}
