//! Tests of reading invariant files: the built-in ones, a directory's
//! own, and the rules every invariant file keeps.

use super::*;
use crate::engine::PolicyEngine;

fn with_invariants(files: &[(&str, &str)]) -> Result<tempfile::TempDir, std::io::Error> {
    let dir = tempfile::tempdir()?;
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["schema.cedarschema", "roles.cedar"] {
        std::fs::copy(shipped.join(f), dir.path().join(f))?;
    }
    std::fs::create_dir(dir.path().join(INVARIANTS_DIR))?;
    for (name, text) in files {
        std::fs::write(dir.path().join(INVARIANTS_DIR).join(name), text)?;
    }
    Ok(dir)
}

fn load_dir(dir: &std::path::Path) -> Result<InvariantSet, PolicyErrors> {
    let source = PolicySource::Dir(dir.to_path_buf());
    let engine = PolicyEngine::load(&source)?;
    InvariantSet::load(&source, engine.schema())
}

#[test]
fn the_built_in_invariants_are_the_eight_named() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let set = InvariantSet::load(&PolicySource::Shipped, engine.schema())?;
    let names: std::collections::BTreeSet<&str> = set.iter().map(|i| i.name.as_str()).collect();
    let expected = [
        KEY_OWN_WORKSPACE,
        NON_MEMBER_DENIED,
        SUSPENDED_NO_WRITE,
        VIEWER_NO_WRITE,
        ARCHIVED_ONLY_READ,
        LIMITED_NOT_GRANTED,
        LIMITED_WORKSPACE_READ,
        REQUIRE_SSO,
    ];
    assert_eq!(names, expected.into_iter().collect());
    assert!(set.iter().all(|i| i.built_in && i.kind == Kind::MustDeny));
    assert_eq!(
        set.named(VIEWER_NO_WRITE).map(|i| i.origin.file.as_str()),
        Some("invariants/viewer_no_write.cedar")
    );
    Ok(())
}

#[test]
fn the_shipped_directory_holds_the_built_in_invariants_once()
-> Result<(), Box<dyn std::error::Error>> {
    let set = load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))?;
    let engine = PolicyEngine::shipped()?;
    let built_in = InvariantSet::load(&PolicySource::Shipped, engine.schema())?;
    assert_eq!(set.len(), built_in.len(), "{set:?}");
    Ok(())
}

#[test]
fn a_directory_adds_its_own() -> Result<(), Box<dyn std::error::Error>> {
    let dir = with_invariants(&[(
        "admins.cedar",
        "// Admins can always manage an active workspace.\n@invariant(\"must_allow\")\n\
         @name(\"admins manage active workspaces\")\npermit (principal is WRNexus::User, \
         action == WRNexus::Action::\"admin\", resource is WRNexus::Workspace)\n\
         when { context.role == \"admin\" && context.workspace_status == \"active\" \
         && !context.project_limited };\n",
    )])?;
    let set = load_dir(dir.path())?;
    let own = set
        .named("admins manage active workspaces")
        .ok_or("not loaded")?;
    assert!(!own.built_in);
    assert_eq!(own.origin.line, 2);
    assert!(
        own.origin.file.ends_with("invariants/admins.cedar"),
        "{own:?}"
    );
    Ok(())
}

#[test]
fn each_rule_of_invariant_files_names_file_and_line() -> Result<(), Box<dyn std::error::Error>> {
    let cases = [
        (
            "// no kind\n@name(\"x\")\npermit (principal, action, resource);\n",
            "invariants/bad.cedar:2: an invariant needs `@invariant(",
        ),
        (
            "// no name\n@invariant(\"must_deny\")\npermit (principal, action, resource);\n",
            "invariants/bad.cedar:2: an invariant needs `@name(",
        ),
        (
            "@invariant(\"must_deny\") @name(\"x\")\nforbid (principal, action, resource);\n",
            "invariants/bad.cedar:1: an invariant is a `permit`",
        ),
        (
            "@invariant(\"must_deny\") @name(\"a viewer never writes\")\n\
             permit (principal, action, resource);\n",
            "is built in and cannot be changed here",
        ),
        (
            "@invariant(\"must_deny\") @name(\"x\")\npermit (principal, action, resource)\n\
             when { context.nope == 1 };\n",
            "invariants/bad.cedar:",
        ),
    ];
    for (text, expected) in cases {
        let dir = with_invariants(&[("bad.cedar", text)])?;
        let errors = load_dir(dir.path()).err().ok_or("accepted")?.to_string();
        assert!(errors.contains(expected), "{text}\n=> {errors}");
    }
    Ok(())
}
