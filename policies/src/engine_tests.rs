//! Tests of the policy engine: prepared plans and the memo decide exactly as
//! the full policy set.

use super::*;
use crate::model::Role;
use crate::sign_in::{SignIn, SignInMethods};

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
                    for (project_id, project_archived) in [
                        (None, false),
                        (Some("p1"), false),
                        (Some("p1"), true),
                        (Some("p2"), false),
                    ] {
                        for granted_projects in [None, Some(granted.as_slice())] {
                            let req = DecisionRequest {
                                principal,
                                action,
                                workspace_id: "w",
                                project_id,
                                project_archived,
                                granted_projects,
                                role,
                                workspace_status: status,
                                email_verified: true,
                                plan: "free",
                                method: "POST",
                                path: "/x",
                                sign_in: SignIn::UNRESTRICTED,
                            };
                            let decision = engine.decide(&req);
                            let (allowed, policies, errors) = reference(&engine, &req);
                            assert_eq!(
                                (
                                    decision.allowed,
                                    &decision.policies[..],
                                    decision.errors.len()
                                ),
                                (allowed, &policies[..], errors),
                                "{req:?}"
                            );
                            // Asked again, the memo answers: the same, with a new id.
                            let again = engine.decide(&req);
                            assert_eq!(
                                (again.allowed, &again.policies, &again.code),
                                (decision.allowed, &decision.policies, &decision.code),
                                "{req:?}"
                            );
                            assert_ne!(again.id(), decision.id());
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 5 * 3 * 5 * 2 * 4 * 2);
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

/// An engine of the shipped files plus `extra.cedar`.
fn engine_with(extra: &str) -> PolicyEngine {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let keep = path
            .extension()
            .is_some_and(|e| e == "cedar" || e == "cedarschema");
        if keep && let Some(name) = path.file_name() {
            std::fs::copy(&path, dir.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    std::fs::write(dir.path().join("extra.cedar"), extra).unwrap_or_else(|e| panic!("{e}"));
    PolicyEngine::load(&PolicySource::Dir(dir.path().to_path_buf()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Requests that differ in what the policies may or may not read: ids,
/// plans, methods and paths (literal hits among them), in every
/// relation of key and project to the workspace. Each decision, most
/// of them answered by the memo from an earlier request with other
/// values, must equal the full evaluation.
fn memo_agrees_with_evaluation(engine: &PolicyEngine) -> usize {
    let ids = ["u1", "u2"];
    let workspaces = ["w1", "w2"];
    let plans = ["free", "team", "pro"];
    let methods = ["GET", "HEAD", "POST", "DELETE"];
    let paths = [
        "/",
        "/notes/1",
        "/notes/2",
        "/locked",
        crate::DELETE_WORKSPACE_PATH,
    ];
    let granted = [
        vec!["p1".to_string()],
        vec!["p1".to_string(), "p2".to_string()],
    ];
    let mut checked = 0;
    for action in ["read", "write", "admin"] {
        for role in [
            Some(Role::Member),
            Some(Role::Viewer),
            Some(Role::Owner),
            None,
        ] {
            for status in WorkspaceStatus::ALL {
                for (i, path) in paths.iter().enumerate() {
                    for (j, method) in methods.iter().enumerate() {
                        let workspace_id = workspaces[(i + j) % 2];
                        let principal = match (i + j) % 3 {
                            0 => Principal::User(ids[j % 2]),
                            1 => Principal::ApiKey {
                                id: ids[i % 2],
                                workspace_id: workspaces[j % 2],
                            },
                            _ => Principal::ApiKey {
                                id: ids[j % 2],
                                workspace_id,
                            },
                        };
                        let project_id =
                            [None, Some("p1"), Some("p2"), Some("p3")][(i + 2 * j) % 4];
                        let granted_projects =
                            [None, Some(&granted[0][..]), Some(&granted[1][..])][(i * 3 + j) % 3];
                        let req = DecisionRequest {
                            principal,
                            action,
                            workspace_id,
                            project_id,
                            // Archived or not, across projects and grants.
                            project_archived: (i * 2 + j + checked) % 3 == 0,
                            granted_projects,
                            role,
                            workspace_status: status,
                            email_verified: true,
                            plan: plans[(i + j + checked) % 3],
                            method,
                            path,
                            sign_in: [
                                SignIn::UNRESTRICTED,
                                SignIn {
                                    allowed: SignInMethods::SSO_ONLY,
                                    ..SignIn::UNRESTRICTED
                                },
                                SignIn {
                                    method: "sso",
                                    sso_workspace_id: Some(workspace_id),
                                    allowed: SignInMethods::SSO_ONLY,
                                    session_age_secs: 900 * (i as i64),
                                    max_session_age_secs: 1_800,
                                },
                                SignIn::API_KEY,
                            ][(i + j * 2 + checked) % 4],
                        };
                        let decision = engine.decide(&req);
                        let (allowed, policies, errors) = reference(engine, &req);
                        assert_eq!(
                            (
                                decision.allowed,
                                &decision.policies[..],
                                decision.errors.len()
                            ),
                            (allowed, &policies[..], errors),
                            "{req:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    checked
}

#[test]
fn remembered_decisions_equal_evaluated_ones_across_ids_and_paths() {
    let shipped = PolicyEngine::shipped().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(memo_agrees_with_evaluation(&shipped), 3 * 4 * 2 * 5 * 4);
    // Requests that differ only in what the shipped policies do not read
    // (users, workspaces, plans, paths other than the one they name) share
    // one remembered answer.
    let before = shipped.memo.len();
    for (user, workspace, plan, path) in [
        ("a", "w-a", "free", "/orders/1"),
        ("b", "w-b", "team", "/orders/2/items"),
        ("c", "w-c", "pro", "/reports"),
    ] {
        let req = DecisionRequest {
            principal: Principal::User(user),
            action: "write",
            workspace_id: workspace,
            project_id: None,
            project_archived: false,
            granted_projects: None,
            role: Some(Role::Member),
            workspace_status: WorkspaceStatus::Active,
            email_verified: true,
            plan,
            method: "PATCH",
            path,
            sign_in: SignIn::UNRESTRICTED,
        };
        assert!(shipped.decide(&req).allowed);
    }
    assert_eq!(shipped.memo.len(), before + 1);

    // Rules reading the plan, a path literal, a path pattern and an id.
    let custom = engine_with(
        r#"@id("locked-on-free")
forbid (principal, action, resource)
when { context.plan == "free" && context.path == "/locked" };

@id("notes-by-u1")
forbid (principal, action == WRNexus::Action::"write", resource)
when { context.path like "/notes/*" && principal == WRNexus::User::"u1" };
"#,
    );
    assert!(custom.reads().ids);
    assert_eq!(custom.reads().path, crate::reads::StrUse::Raw);
    assert_eq!(
        custom.reads().plan,
        crate::reads::StrUse::Compared(vec!["free".into()])
    );
    memo_agrees_with_evaluation(&custom);
}
