//! Loading a policy set for service: parse and validate, then the
//! invariants, then the decision tests. Startup and every reload go through
//! here, so a set that fails any step never serves.

use crate::cases;
use crate::engine::PolicyEngine;
use crate::invariants;
use crate::load::{PolicyError, PolicyErrors, PolicySource};
use std::path::Path;
use std::time::SystemTime;

/// Load `source` with every check.
pub fn load_checked(source: &PolicySource) -> Result<PolicyEngine, PolicyErrors> {
    let engine = PolicyEngine::load(source)?;
    let mut errors: Vec<PolicyError> = invariants::check(&engine)
        .into_iter()
        .map(|v| PolicyError::Invariant(v.to_string()))
        .collect();
    let files = cases::case_files(source).map_err(|e| PolicyErrors(vec![e]))?;
    match cases::run(&engine, &files) {
        Ok(results) => errors.extend(results.into_iter().filter_map(|r| {
            r.failure.map(|message| PolicyError::Case {
                file: r.file,
                name: r.name,
                message,
            })
        })),
        Err(e) => errors.push(e),
    }
    if errors.is_empty() {
        Ok(engine)
    } else {
        Err(PolicyErrors(errors))
    }
}

/// What a policy directory looks like now (names, sizes, modification
/// times), to notice edits by polling.
pub fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut seen = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("tests")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                seen.push((
                    entry.path().display().to_string(),
                    meta.len(),
                    meta.modified().ok(),
                ));
            }
        }
    }
    seen.sort();
    seen
}
