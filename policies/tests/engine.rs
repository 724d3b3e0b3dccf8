//! The shipped policies decide the role matrix and suspension as documented.

use wrnexus_policies::{
    DecisionRequest, PolicyEngine, PolicySource, Principal, Role, WorkspaceStatus,
};

fn request(
    action: &'static str,
    role: Option<Role>,
    status: WorkspaceStatus,
) -> DecisionRequest<'static> {
    DecisionRequest {
        principal: Principal::User("u1"),
        action,
        workspace_id: "w1",
        project_id: None,
        role,
        workspace_status: status,
        plan: "free",
        method: "GET",
        path: "/",
    }
}

#[test]
fn role_matrix_and_suspension() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let cases = [
        // (action, role, status, allowed)
        ("read", Some(Role::Viewer), WorkspaceStatus::Active, true),
        ("write", Some(Role::Viewer), WorkspaceStatus::Active, false),
        ("write", Some(Role::Member), WorkspaceStatus::Active, true),
        ("admin", Some(Role::Member), WorkspaceStatus::Active, false),
        ("admin", Some(Role::Admin), WorkspaceStatus::Active, true),
        ("billing", Some(Role::Admin), WorkspaceStatus::Active, false),
        ("billing", Some(Role::Owner), WorkspaceStatus::Active, true),
        ("read", None, WorkspaceStatus::Active, false),
        (
            "write",
            Some(Role::Owner),
            WorkspaceStatus::Suspended,
            false,
        ),
        ("read", Some(Role::Owner), WorkspaceStatus::Suspended, true),
    ];
    for (action, role, status, allowed) in cases {
        let d = engine.decide(&request(action, role, status));
        assert_eq!(
            d.allowed, allowed,
            "{action} as {role:?} in {status}: {d:?}"
        );
        assert!(d.errors.is_empty(), "{d:?}");
    }
    let suspended = engine.decide(&request(
        "write",
        Some(Role::Owner),
        WorkspaceStatus::Suspended,
    ));
    assert_eq!(suspended.code.as_deref(), Some("workspace_read_only"));
    assert_eq!(suspended.policies, vec!["suspended-read-only".to_string()]);
    let allowed = engine.decide(&request(
        "read",
        Some(Role::Viewer),
        WorkspaceStatus::Active,
    ));
    assert_eq!(allowed.policies, vec!["role-read".to_string()]);
    Ok(())
}

#[test]
fn unknown_action_fails_closed() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let d = engine.decide(&request(
        "launch",
        Some(Role::Owner),
        WorkspaceStatus::Active,
    ));
    assert!(!d.allowed);
    assert!(d.errors[0].contains("`launch`"), "{d:?}");
    Ok(())
}

#[test]
fn the_repository_files_are_the_shipped_ones() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = PolicyEngine::load(&PolicySource::Dir(dir.to_path_buf()))?;
    assert_eq!(
        engine.policy_count(),
        PolicyEngine::shipped()?.policy_count()
    );
    Ok(())
}

#[test]
fn errors_name_file_and_line() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        src.join("schema.cedarschema"),
        dir.path().join("schema.cedarschema"),
    )?;
    std::fs::write(
        dir.path().join("broken.cedar"),
        "// fine\npermit (principal, action, resource);\n\npermit (principal, action resource);\n",
    )?;
    std::fs::write(
        dir.path().join("typo.cedar"),
        "\n\n@id(\"typo\")\npermit (principal, action == WRNexus::Action::\"read\", resource)\nwhen { context.rolle == \"owner\" };\n",
    )?;
    let err = PolicyEngine::load(&PolicySource::Dir(dir.path().to_path_buf()))
        .err()
        .ok_or("broken policies loaded")?;
    let text = err.to_string();
    assert!(text.contains("broken.cedar:4:"), "{text}");
    assert!(text.contains("typo.cedar:5:"), "{text}");
    assert!(text.contains("`typo`"), "{text}");
    Ok(())
}
