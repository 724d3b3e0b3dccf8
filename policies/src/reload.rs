//! Loading a policy set for service: parse and validate (the policies and
//! the invariants), prove the invariants and that no policy errs (or, with
//! no solver at hand, check them by sampling), then run the decision
//! tests. Startup and every reload go through here, so a set that fails
//! any step never serves.

use crate::cases;
use crate::engine::PolicyEngine;
use crate::invariant_set::InvariantSet;
use crate::invariants::{self, CROSS_CHECK_LIMIT, Space};
use crate::load::{PolicyError, PolicyErrors, PolicySource};
use crate::proof::{self, ProofStatus, Refutation};
use crate::solver::ProofSettings;
use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

/// Load `source` with every check, with the solver the environment names
/// (`CVC5`, else `cvc5` on `PATH`; see [`ProofSettings`]).
pub fn load_checked(source: &PolicySource) -> Result<PolicyEngine, PolicyErrors> {
    load_checked_with(source, &ProofSettings::default())
}

/// Load `source` with every check, proving with `proofs`' solver. The
/// engine carries how the proofs went ([`PolicyEngine::proofs`]).
pub fn load_checked_with(
    source: &PolicySource,
    proofs: &ProofSettings,
) -> Result<PolicyEngine, PolicyErrors> {
    let mut engine = PolicyEngine::load(source)?;
    let invariants = InvariantSet::load(source, engine.schema())?;
    let space = Space::of(&engine, &invariants);
    // Sampling is the whole check without a solver, and a cross-check of
    // the proofs where it is cheap: then it runs beside them.
    let cross_check = space.len() <= CROSS_CHECK_LIMIT;
    let (proved, mut sampled) = std::thread::scope(|scope| {
        let sampling = cross_check
            .then(|| scope.spawn(|| invariants::check_space(&engine, &invariants, &space)));
        let proved = proof::prove(&engine, &invariants, proofs);
        (proved, sampling.map(|s| s.join()))
    });
    let mut errors = Vec::new();
    let mut refuted = HashSet::new();
    let status = match proved {
        Ok(proof) => {
            for refutation in proof.refutations {
                errors.push(match &refutation {
                    Refutation::Broken { invariant, .. } => {
                        refuted.insert(invariant.name.clone());
                        PolicyError::Invariant(refutation.to_string())
                    }
                    Refutation::CanError { .. } => PolicyError::CanError(refutation.to_string()),
                });
            }
            Some(proof.status)
        }
        Err(e) => {
            errors.push(PolicyError::Proof(e.to_string()));
            None
        }
    };
    if sampled.is_none() && !status.as_ref().is_some_and(ProofStatus::is_on) {
        sampled = Some(Ok(invariants::check_space(&engine, &invariants, &space)));
    }
    match sampled {
        // An invariant the proofs refuted is reported once, with the
        // solver's counterexample.
        Some(Ok(violations)) => errors.extend(
            violations
                .into_iter()
                .filter(|v| !refuted.contains(&v.invariant))
                .map(|v| PolicyError::Invariant(v.to_string())),
        ),
        Some(Err(_)) => errors.push(PolicyError::Proof(
            "the sampled invariant check stopped unexpectedly".to_string(),
        )),
        None => {}
    }
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
    match (errors.is_empty(), status) {
        (true, Some(status)) => {
            engine.set_proofs(status);
            Ok(engine)
        }
        _ => Err(PolicyErrors(errors)),
    }
}

/// What a policy directory looks like now (names, sizes, modification
/// times of its files, its tests' and its invariants'), to notice edits by
/// polling.
pub fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut seen = Vec::new();
    for sub in [
        dir.to_path_buf(),
        dir.join("tests"),
        dir.join(crate::invariant_set::INVARIANTS_DIR),
    ] {
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
