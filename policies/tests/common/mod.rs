//! Helpers shared by the policy suites: a shipped set to edit in a temporary directory.

use std::path::Path;

/// A copy of the shipped set (without its cases) with `edits` written over
/// it (`invariants/…` included).
pub fn edited(edits: &[(&str, &str)]) -> Result<tempfile::TempDir, std::io::Error> {
    let dir = tempfile::tempdir()?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in [
        "schema.cedarschema",
        "roles.cedar",
        "suspension.cedar",
        "api_keys.cedar",
        "projects.cedar",
        "sign_in.cedar",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f))?;
    }
    for (file, text) in edits {
        let path = dir.path().join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(dir)
}
