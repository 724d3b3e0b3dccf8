//! `wrnexus policy check|test|explain` on good and bad policy directories:
//! exit codes and messages.

use std::path::Path;
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn wrnexus(args: &[&str]) -> Result<(i32, String), std::io::Error> {
    let out = Command::new(env!("CARGO_BIN_EXE_wrnexus"))
        .args(args)
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// A copy of the shipped policy directory (policies and cases).
fn copy_shipped(to: &Path) -> Result<(), std::io::Error> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    std::fs::create_dir_all(to.join("tests"))?;
    for entry in std::fs::read_dir(&from)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        if path
            .extension()
            .is_some_and(|e| e == "cedar" || e == "cedarschema")
        {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    for entry in std::fs::read_dir(from.join("tests"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            std::fs::copy(&path, to.join("tests").join(name))?;
        }
    }
    Ok(())
}

#[test]
fn the_shipped_directory_checks_and_tests_clean() -> TestResult {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let (code, out) = wrnexus(&["policy", "check", dir])?;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("invariants hold") && out.contains("decision tests pass"),
        "{out}"
    );
    let (code, out) = wrnexus(&["policy", "test", dir])?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 failed"), "{out}");
    Ok(())
}

#[test]
fn syntax_and_schema_errors_name_file_and_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_shipped(dir.path())?;
    let path = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("typo.cedar"),
        "// a typo\npermit (principal, action, resource)\n",
    )?;
    let (code, out) = wrnexus(&["policy", "check", &path])?;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("typo.cedar:2"), "{out}");
    let (code, out) = wrnexus(&["policy", "test", &path])?;
    assert_eq!(code, 1, "{out}");
    std::fs::write(
        dir.path().join("typo.cedar"),
        "@id(\"plans\")\npermit (principal, action, resource)\nwhen { context.tier == \"pro\" };\n",
    )?;
    let (code, out) = wrnexus(&["policy", "check", &path])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("typo.cedar:") && out.contains("`plans`"),
        "{out}"
    );
    Ok(())
}

#[test]
fn a_rule_breaking_an_invariant_or_a_case_fails_check_and_test() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_shipped(dir.path())?;
    let path = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("generous.cedar"),
        "// Viewers may write drafts.\n@id(\"viewer-drafts\")\npermit (\n  principal,\n  action == WRNexus::Action::\"write\",\n  resource\n)\nwhen { context.role == \"viewer\" };\n",
    )?;
    let (code, out) = wrnexus(&["policy", "check", &path])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("invariant broken: a viewer never writes"),
        "{out}"
    );
    assert!(out.contains("generous.cedar:2"), "{out}");
    // The matrix's expectations catch it too.
    let (code, out) = wrnexus(&["policy", "test", &path])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL tests/matrix.toml: user viewer write"),
        "{out}"
    );
    Ok(())
}

#[test]
fn explain_says_what_decided_and_why() -> TestResult {
    let (code, out) = wrnexus(&[
        "policy",
        "explain",
        "--role",
        "owner",
        "--action",
        "write",
        "--status",
        "suspended",
    ])?;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("decision: deny"), "{out}");
    assert!(
        out.contains("suspended-read-only  (suspension.cedar:"),
        "{out}"
    );
    assert!(
        out.contains("a matching forbid overrides every permit"),
        "{out}"
    );
    assert!(out.contains("problem code: workspace_read_only"), "{out}");

    let (code, out) = wrnexus(&["policy", "explain", "--role", "member", "--action", "write"])?;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("decision: allow") && out.contains("role-write"),
        "{out}"
    );

    let (code, out) = wrnexus(&["policy", "explain", "--role", "viewer", "--action", "admin"])?;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("default deny"), "{out}");

    let (code, out) = wrnexus(&[
        "policy",
        "explain",
        "--principal",
        "api_key",
        "--role",
        "owner",
        "--action",
        "read",
        "--workspace",
        "w2",
        "--key-workspace",
        "w1",
    ])?;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("api-key-own-workspace"), "{out}");

    let (code, out) = wrnexus(&["policy", "explain", "--role", "captain", "--action", "read"])?;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("captain"), "{out}");
    Ok(())
}

#[test]
fn check_refuses_what_no_case_covers_naming_the_invariant() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_shipped(dir.path())?;
    let path = dir.path().display().to_string();
    // Keys of enterprise workspaces reach every workspace: no shipped case
    // tries that plan, but the invariants try every plan the rules name.
    std::fs::write(
        dir.path().join("api_keys.cedar"),
        "// Enterprise keys reach every workspace.\n@id(\"api-key-own-workspace\")\n@code(\"api_key_wrong_workspace\")\nforbid (\n  principal is WRNexus::ApiKey,\n  action,\n  resource\n)\nunless { resource in principal.workspace || context.plan == \"enterprise\" };\n",
    )?;
    let (code, out) = wrnexus(&["policy", "test", &path])?;
    assert_eq!(code, 0, "the cases alone do not notice: {out}");
    // Sampling alone (no solver) names the sampled request.
    let no_solver = ["--solver", "/nonexistent/wrnexus-test-solver"];
    let (code, out) = wrnexus(&[&["policy", "check", &path][..], &no_solver].concat())?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("invariant broken: an API key never acts outside its workspace"),
        "{out}"
    );
    assert!(
        out.contains("an API key of workspace `w2`") && out.contains("plan `enterprise`"),
        "{out}"
    );
    assert!(!out.contains("invariants hold"), "{out}");

    // Viewers administering with POST: a write by the invariants' definition.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/api_keys.cedar"),
        dir.path().join("api_keys.cedar"),
    )?;
    std::fs::write(
        dir.path().join("viewer.cedar"),
        "// Viewers may post to the settings.\n@id(\"viewer-settings\")\npermit (\n  principal,\n  action == WRNexus::Action::\"admin\",\n  resource\n)\nwhen { context.role == \"viewer\" && context.method == \"POST\" };\n",
    )?;
    let (code, out) = wrnexus(&[&["policy", "check", &path][..], &no_solver].concat())?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("invariant broken: a viewer never writes")
            && out.contains("POST `/`")
            && out.contains("viewer.cedar:2"),
        "{out}"
    );
    assert!(!out.contains("outside its workspace"), "{out}");
    Ok(())
}

#[test]
fn a_case_with_the_right_decision_but_other_policies_fails() -> TestResult {
    let dir = tempfile::tempdir()?;
    copy_shipped(dir.path())?;
    let path = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("tests").join("why.toml"),
        "[[case]]\nname = \"a suspended owner cannot write\"\nrole = \"owner\"\naction = \"write\"\nstatus = \"suspended\"\nexpect = \"deny\"\npolicies = [\"role-write\"]\n",
    )?;
    let (code, out) = wrnexus(&["policy", "test", &path])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL tests/why.toml: a suspended owner cannot write"),
        "{out}"
    );
    assert!(
        out.contains(
            "expected determining policies [\"role-write\"], got [\"suspended-read-only\"]"
        ),
        "{out}"
    );
    assert!(out.contains(", 1 failed"), "{out}");
    // Every load runs the cases too.
    let (code, out) = wrnexus(&["policy", "check", &path])?;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("tests/why.toml: case `a suspended owner cannot write`"),
        "{out}"
    );
    Ok(())
}
