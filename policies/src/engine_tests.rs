//! Tests of the policy engine: prepared plans and the memo decide exactly as
//! the full policy set.

use super::*;

/// The decision as it was made before the per-action plans: every
/// policy, every request validated against the schema.
fn reference(engine: &PolicyEngine, req: &DecisionRequest<'_>) -> (bool, Vec<String>, usize) {
    let Some(plans) = engine.actions.get(req.action) else {
        return (false, Vec::new(), 1);
    };
    let Ok((request, entities)) =
        engine.request(req, plans.uid.clone(), Some(&engine.loaded.schema))
    else {
        return (false, Vec::new(), 1);
    };
    let response = engine
        .authorizer
        .is_authorized(&request, &engine.loaded.policies, &entities);
    let mut policies: Vec<String> = response
        .diagnostics()
        .reason()
        .map(|p| p.to_string())
        .collect();
    policies.sort();
    let errors = response.diagnostics().errors().count();
    (
        response.decision() == cedar_policy::Decision::Allow && errors == 0,
        policies,
        errors,
    )
}

#[test]
fn plans_decide_exactly_as_the_full_policy_set() {
    let engine = PolicyEngine::shipped().unwrap_or_else(|e| panic!("{e}"));
    let granted = vec!["p1".to_string()];
    let mut checked = 0;
    for action in ["read", "write", "admin", "billing", "nope"] {
        for principal in [
            Principal::User("u"),
            Principal::ApiKey {
                id: "k",
                workspace_id: "w",
            },
            Principal::ApiKey {
                id: "k",
                workspace_id: "other",
            },
        ] {
            for role in Role::ALL.map(Some).into_iter().chain([None]) {
                for status in WorkspaceStatus::ALL {
                    for project_id in [None, Some("p1"), Some("p2")] {
                        for granted_projects in [None, Some(granted.as_slice())] {
                            let req = DecisionRequest {
                                principal,
                                action,
                                workspace_id: "w",
                                project_id,
                                granted_projects,
                                role,
                                workspace_status: status,
                                plan: "free",
                                method: "POST",
                                path: "/x",
                            };
                            let decision = engine.decide(&req);
                            let (allowed, policies, errors) = reference(&engine, &req);
                            assert_eq!(
                                (decision.allowed, &decision.policies, decision.errors.len()),
                                (allowed, &policies, errors),
                                "{req:?}"
                            );
                            // Asked again, the memo answers: the same, with a new id.
                            let again = engine.decide(&req);
                            assert_eq!(
                                (again.allowed, &again.policies, &again.code),
                                (decision.allowed, &decision.policies, &decision.code),
                                "{req:?}"
                            );
                            assert_ne!(again.id, decision.id);
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 5 * 3 * 5 * 2 * 3 * 2);
}

#[test]
fn the_shipped_shapes_are_prevalidated_and_trimmed() {
    let engine = PolicyEngine::shipped().unwrap_or_else(|e| panic!("{e}"));
    let write = engine
        .actions
        .get("write")
        .unwrap_or_else(|| panic!("no write"));
    let user_workspace = &write.plans[plan_index(false, false)];
    assert!(user_workspace.prevalidated);
    assert!(user_workspace.policies.policies().count() < engine.policy_count());
}
