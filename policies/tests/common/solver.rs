//! For the suites that prove: whether cvc5 is at hand (skipping loudly
//! without it, unless `WRNEXUS_REQUIRE_SERVICES=1`).

use wrnexus_policies::solver::ProofSettings;

/// Whether the solver the environment names starts; an error when it must
/// (CI) and does not.
pub fn solver_available() -> Result<bool, String> {
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
