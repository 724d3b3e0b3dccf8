//! Tests of the invariant check: what counts as a write, and the space of
//! requests a set is checked over.

use super::*;
use crate::load::PolicySource;

#[test]
fn a_write_is_the_write_action_or_a_changing_method_outside_read_and_billing() {
    for method in METHODS {
        assert!(is_write("write", method), "write with {method}");
        assert!(!is_write("read", method), "read with {method}");
        assert!(!is_write("billing", method), "billing with {method}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE", "PURGE"] {
        assert!(is_write("admin", method), "admin with {method}");
        assert!(is_write("export", method), "export with {method}");
    }
    for method in ["GET", "HEAD", "OPTIONS"] {
        assert!(!is_write("admin", method), "admin with {method}");
    }
}

#[test]
fn the_shipped_space_covers_every_action_method_and_app_path()
-> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let space = Space::of(&engine);
    assert_eq!(space.actions, ["admin", "billing", "read", "write"]);
    // The shipped rules name GET and HEAD; OPTIONS and POST stand for the
    // other safe methods and the writes.
    assert_eq!(space.methods, ["GET", "HEAD", "OPTIONS", "POST"]);
    // suspension.cedar compares the path only with the control plane's
    // deletion path, which is no app path.
    assert_eq!(space.paths, [PLAIN_PATH]);
    // No shipped policy reads the plan.
    assert_eq!(space.plans, [DEFAULT_PLAN]);
    Ok(())
}

#[test]
fn plans_and_methods_compared_in_a_policy_join_the_space() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["schema.cedarschema", "roles.cedar"] {
        std::fs::copy(shipped.join(f), dir.path().join(f))?;
    }
    std::fs::write(
        dir.path().join("plans.cedar"),
        "@id(\"pro-purge\")\npermit (principal, action == WRNexus::Action::\"admin\", resource)\n\
         when { context.plan == \"pro\" && context.method == \"PURGE\" && context.role == \"owner\" };\n",
    )?;
    let engine = PolicyEngine::load(&PolicySource::Dir(dir.path().to_path_buf()))?;
    let space = Space::of(&engine);
    assert_eq!(space.plans, ["free", "pro"]);
    assert_eq!(space.methods, ["GET", "POST", "PURGE"]);
    Ok(())
}
