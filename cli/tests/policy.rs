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
