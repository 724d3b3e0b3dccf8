//! Tests of the sampled invariant check: the space of requests a set is
//! checked over, and the built-in invariants' definition of a write.

use super::*;
use crate::load::PolicySource;

/// A write, as the built-in invariants define it: the `write` action with
/// any method, and any other action except `read` and `billing` with a
/// method that is not safe.
fn is_write(action: &str, method: &str) -> bool {
    action == "write" || (action != "read" && action != "billing" && !is_safe_method(method))
}

#[test]
fn the_invariants_count_as_writes_what_the_docs_say() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let invariants = InvariantSet::load(&PolicySource::Shipped, engine.schema())?;
    let suspended = invariants
        .named(crate::invariant_set::SUSPENDED_NO_WRITE)
        .ok_or("missing")?;
    let viewer = invariants
        .named(crate::invariant_set::VIEWER_NO_WRITE)
        .ok_or("missing")?;
    for action in ["read", "write", "admin", "billing"] {
        for method in METHODS.into_iter().chain(["PURGE"]) {
            for (role, status, invariant) in [
                (Role::Owner, WorkspaceStatus::Suspended, suspended),
                (Role::Viewer, WorkspaceStatus::Active, viewer),
            ] {
                let request = DecisionRequest {
                    principal: Principal::User("u1"),
                    action,
                    workspace_id: WORKSPACE,
                    project_id: None,
                    project_archived: false,
                    granted_projects: None,
                    role: Some(role),
                    workspace_status: status,
                    email_verified: true,
                    plan: DEFAULT_PLAN,
                    method,
                    path: PLAIN_PATH,
                    sign_in: crate::sign_in::SignIn::UNRESTRICTED,
                };
                let entities = engine.entities_of(&request)?;
                let (matched, _) = engine.matching(invariants.policy_set(), &request, &entities)?;
                let id = invariant.policy.id().to_string();
                assert_eq!(
                    matched.contains(&id),
                    is_write(action, method),
                    "{} on `{action}` with {method}",
                    invariant.name
                );
            }
        }
    }
    Ok(())
}

#[test]
fn the_shipped_space_covers_every_action_method_and_app_path()
-> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let invariants = InvariantSet::load(&PolicySource::Shipped, engine.schema())?;
    let space = Space::of(&engine, &invariants);
    assert_eq!(space.actions, ["admin", "billing", "read", "write"]);
    // The rules name GET, HEAD and OPTIONS; POST stands for the writes.
    assert_eq!(space.methods, ["GET", "HEAD", "OPTIONS", "POST"]);
    // suspension.cedar and the invariants compare the path only with the
    // control plane's paths, which are no app paths.
    assert_eq!(space.paths, [PLAIN_PATH]);
    // No shipped policy reads the plan.
    assert_eq!(space.plans, [DEFAULT_PLAN]);
    assert!(check_space(&engine, &invariants, &space).is_empty());
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
    let source = PolicySource::Dir(dir.path().to_path_buf());
    let engine = PolicyEngine::load(&source)?;
    let invariants = InvariantSet::load(&source, engine.schema())?;
    let space = Space::of(&engine, &invariants);
    assert_eq!(space.plans, ["free", "pro"]);
    assert_eq!(space.methods, ["GET", "HEAD", "OPTIONS", "POST", "PURGE"]);
    Ok(())
}
