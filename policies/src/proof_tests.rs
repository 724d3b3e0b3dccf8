//! Tests of the proofs that need no solver: request environments in words,
//! and the report when no solver is found.

use super::*;
use crate::load::PolicySource;

#[test]
fn without_a_solver_proofs_are_off_and_say_why() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let invariants = InvariantSet::load(&PolicySource::Shipped, engine.schema())?;
    let settings = ProofSettings::with_solver("/nonexistent/cvc5", "[policies] solver");
    let proof = prove(&engine, &invariants, &settings)?;
    assert!(proof.refutations.is_empty());
    let status = proof.status.to_string();
    assert!(!proof.status.is_on());
    assert!(
        status
            .starts_with("off: no solver: `/nonexistent/cvc5` from [policies] solver is not found"),
        "{status}"
    );
    assert!(status.contains("sampled requests only"), "{status}");
    Ok(())
}

#[test]
fn environments_are_named_by_principal_action_and_resource()
-> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let mut names: Vec<String> = engine
        .schema()
        .request_envs()
        .map(|e| environment_name(&e))
        .collect();
    names.sort();
    assert_eq!(names.len(), 16);
    assert!(
        names.contains(&"ApiKey × billing × Project".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"User × write × Workspace".to_string()),
        "{names:?}"
    );
    Ok(())
}
