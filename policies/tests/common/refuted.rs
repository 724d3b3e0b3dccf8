//! An edited copy of the shipped set, proven and sampled, and the one
//! refutation of a named invariant, checked against the engine, the way
//! the gateway asks, and the refusal of the load.

use crate::common::edited;
use crate::gateway_asks::as_the_gateway_asks;
use wrnexus_policies::counterexample::Counterexample;
use wrnexus_policies::invariant_set::{InvariantSet, Kind};
use wrnexus_policies::invariants;
use wrnexus_policies::proof::{self, Refutation};
use wrnexus_policies::reload::load_checked;
use wrnexus_policies::solver::ProofSettings;
use wrnexus_policies::{PolicyEngine, PolicySource};

/// An edited copy of the shipped set: its engine, what the proofs refute,
/// what sampling finds, and the whole refusal of a load.
pub struct Edited {
    _dir: tempfile::TempDir,
    pub engine: PolicyEngine,
    pub invariants: InvariantSet,
    pub refutations: Vec<Refutation>,
    pub sampled: Vec<String>,
    pub refusal: String,
}

pub fn edit(edits: &[(&str, &str)]) -> Result<Edited, Box<dyn std::error::Error>> {
    let dir = edited(edits)?;
    let source = PolicySource::Dir(dir.path().to_path_buf());
    let engine = PolicyEngine::load(&source)?;
    let invariants = InvariantSet::load(&source, engine.schema())?;
    let proof = proof::prove(&engine, &invariants, &ProofSettings::default())?;
    assert!(proof.status.is_on(), "{}", proof.status);
    let sampled = invariants::check(&engine, &invariants)
        .into_iter()
        .map(|v| v.invariant)
        .collect();
    let refusal = load_checked(&source)
        .err()
        .ok_or("the set was accepted")?
        .to_string();
    Ok(Edited {
        _dir: dir,
        engine,
        invariants,
        refutations: proof.refutations,
        sampled,
        refusal,
    })
}

/// The one refutation of `name`; checks that its counterexample is matched
/// by the invariant and decided by the engine as the refutation claims —
/// also as the gateway would ask it, where it can — and that the refusal
/// shows it.
pub fn broken<'a>(
    edited: &'a Edited,
    name: &str,
) -> Result<&'a Counterexample, Box<dyn std::error::Error>> {
    let found: Vec<_> = edited
        .refutations
        .iter()
        .filter_map(|r| match r {
            Refutation::Broken {
                invariant,
                counterexample,
                ..
            } if invariant.name == name => Some((invariant, counterexample)),
            _ => None,
        })
        .collect();
    let [(invariant, cx)] = found[..] else {
        return Err(format!("{name}: {:#?}", edited.refutations).into());
    };
    let matched = cedar_policy::Authorizer::new().is_authorized(
        &cx.request,
        edited.invariants.policy_set(),
        &cx.entities,
    );
    assert!(
        matched
            .diagnostics()
            .reason()
            .any(|p| p == invariant.policy.id()),
        "the invariant does not match its counterexample: {cx}"
    );
    let must_allow = invariant.kind == Kind::MustAllow;
    let decision = cx.decide(&edited.engine);
    assert_eq!(decision.allowed, !must_allow, "{cx}: {decision:?}");
    if let Some(gateway) = as_the_gateway_asks(&edited.engine, cx) {
        assert_eq!(gateway.allowed, !must_allow, "as the gateway asks {cx}");
    }
    // The load's own proof (another run) shows a counterexample of its own.
    let line = edited
        .refusal
        .lines()
        .find(|l| l.starts_with(&format!("invariant broken: {name} (")))
        .ok_or_else(|| format!("not refused: {}", edited.refusal))?;
    assert!(
        line.contains("): proven false over ")
            && line.contains("; counterexample: principal WRNexus::")
            && line.contains(if must_allow {
                "; the policies in force: denied"
            } else {
                "; the policies in force: allowed by `"
            }),
        "{line}"
    );
    Ok(cx)
}
