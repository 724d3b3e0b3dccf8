//! `wrnexus config check FILE`: everything a start would refuse, found
//! without starting — the very checks `gateway` and `control-plane` run
//! (see [`crate::validate`]), for every section the file has, with the
//! environment's `WRNEXUS_*` overrides applied as a start would — and
//! whether the policy proofs are on (a solver at hand) or off.

use crate::settings::Settings;
use crate::validate;
use anyhow::{Result, anyhow};
use std::path::Path;

pub fn run(file: &Path) -> Result<()> {
    let origin = file.display().to_string();
    let settings = Settings::load(file)?;
    let mut found = Vec::new();
    let mut problems = Vec::new();
    if settings.gateway.is_some() {
        match validate::gateway(&settings) {
            Ok(_) => found.push("[gateway]"),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    let mut warnings = Vec::new();
    if settings.control_plane.is_some() {
        match validate::control_plane(&settings) {
            Ok((_, config)) => {
                found.push("[control_plane]");
                warnings.extend(config.public_url_warning());
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    match settings.telemetry.config(&settings.sources, "wrnexus") {
        Ok(Some(_)) => found.push("[telemetry]"),
        Ok(None) => {}
        Err(e) => problems.push(format!("{e:#}")),
    }
    if !problems.is_empty() {
        return Err(anyhow!("{}", problems.join("\n")));
    }
    if !found.iter().any(|s| *s != "[telemetry]") {
        return Err(anyhow!(
            "{origin}: neither a `[gateway]` nor a `[control_plane]` section"
        ));
    }
    println!("{origin}: valid ({})", found.join(", "));
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    // Proofs off is no error (the invariants are then sampled), but say so.
    match settings.proof_settings()?.probe() {
        Ok(solver) => println!("policy proofs: on ({solver})"),
        Err(why) => {
            println!("policy proofs: off ({why}): the invariants are checked by sampling only");
            eprintln!("warning: policy proofs are off: {why}");
        }
    }
    Ok(())
}
