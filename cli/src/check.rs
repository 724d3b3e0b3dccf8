//! `wrnexus config check FILE`: everything a start would refuse, found
//! without starting — unknown or bad keys (naming file and key), bad
//! addresses and routes, and a policy set that fails its checks.

use crate::settings::Settings;
use anyhow::{Result, anyhow};
use std::net::ToSocketAddrs;
use std::path::Path;
use wrnexus_gateway::routes::RouteTable;
use wrnexus_policies::PolicySource;
use wrnexus_policies::reload::load_checked;

pub fn run(file: &Path) -> Result<()> {
    let origin = file.display().to_string();
    let settings = Settings::load(file)?;
    let mut found = Vec::new();
    if settings.gateway.is_some() {
        let gateway = settings.gateway(&origin)?;
        let policies =
            load_checked(&gateway.policies).map_err(|e| anyhow!("{origin}: [policies]:\n{e}"))?;
        let routes = RouteTable::build(
            gateway.effective_routes(),
            |action| policies.knows_action(action),
            |upstream| upstream.address().to_socket_addrs().ok()?.next(),
        )
        .map_err(|e| anyhow!("{origin}: [gateway] routes: {e}"))?;
        if let Some(u) = routes.undeclared(|a| policies.knows_action(a)).first() {
            return Err(anyhow!(
                "{origin}: [gateway] routes: {u}, which the policies' schema does not declare"
            ));
        }
        if let Some(shadow @ PolicySource::Dir(_)) = &gateway.shadow_policies {
            let shadow = load_checked(shadow)
                .map_err(|e| anyhow!("{origin}: [policies] shadow_dir:\n{e}"))?;
            if let Some(u) = routes.undeclared(|a| shadow.knows_action(a)).first() {
                return Err(anyhow!(
                    "{origin}: [policies] shadow_dir: {u}, which the shadow policies' schema does not declare"
                ));
            }
        }
        gateway
            .check_invalidation_source(false)
            .map_err(|e| anyhow!("{origin}: [gateway]: {e}"))?;
        found.push("[gateway]");
    }
    if settings.control_plane.is_some() {
        settings.control_plane(&origin)?;
        found.push("[control_plane]");
    }
    if found.is_empty() {
        return Err(anyhow!(
            "{origin}: neither a `[gateway]` nor a `[control_plane]` section"
        ));
    }
    println!("{origin}: valid ({})", found.join(", "));
    Ok(())
}
