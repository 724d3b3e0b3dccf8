//! The shipped policies decide the role matrix and suspension as documented.

mod common;

use wrnexus_policies::{
    Action, DecisionRequest, PolicyEngine, PolicySource, Principal, Role, WorkspaceStatus,
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
        project_archived: false,
        granted_projects: None,
        role,
        workspace_status: status,
        email_verified: true,
        plan: "free",
        method: "GET",
        path: "/",
        sign_in: wrnexus_policies::SignIn::UNRESTRICTED,
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
    assert_eq!(suspended.policies[..], ["suspended-read-only".to_string()]);
    let allowed = engine.decide(&request(
        "read",
        Some(Role::Viewer),
        WorkspaceStatus::Active,
    ));
    assert_eq!(allowed.policies[..], ["role-read".to_string()]);
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

#[test]
fn a_template_in_a_policy_file_is_refused_not_dropped() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["schema.cedarschema", "roles.cedar", "suspension.cedar"] {
        std::fs::copy(src.join(file), dir.path().join(file))?;
    }
    // A forbid written as a template: were it dropped, it would not be in force.
    std::fs::write(
        dir.path().join("blocked.cedar"),
        "// blocked users\n\nforbid (principal == ?principal, action, resource);\n",
    )?;
    let err = PolicyEngine::load(&PolicySource::Dir(dir.path().to_path_buf()))
        .err()
        .ok_or("a policy file with a template loaded")?;
    let text = err.to_string();
    assert!(text.contains("blocked.cedar:3:"), "{text}");
    assert!(text.contains("template"), "{text}");
    Ok(())
}

#[test]
fn api_keys_act_only_in_their_workspace_within_their_ceiling()
-> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let key = |workspace_id, action, ceiling| {
        let mut r = request(action, Some(ceiling), WorkspaceStatus::Active);
        r.principal = Principal::ApiKey {
            id: "k1",
            workspace_id: "w1",
        };
        r.workspace_id = workspace_id;
        r
    };
    let own = engine.decide(&key("w1", Action::WRITE, Role::Member));
    assert!(own.allowed, "{own:?}");
    let other = engine.decide(&key("w2", Action::READ, Role::Owner));
    assert!(!other.allowed);
    assert_eq!(other.code.as_deref(), Some("api_key_wrong_workspace"));
    let viewer_write = engine.decide(&key("w1", Action::WRITE, Role::Viewer));
    assert!(!viewer_write.allowed);
    Ok(())
}

#[test]
fn project_grants_limit_a_membership() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let grants = vec!["p1".to_string()];
    let on = |project: Option<&'static str>, action, granted: Option<&[String]>| {
        let mut r = request(action, Some(Role::Member), WorkspaceStatus::Active);
        r.project_id = project;
        r.granted_projects = granted;
        engine.decide(&r)
    };
    assert!(on(Some("p1"), Action::WRITE, Some(&grants)).allowed);
    let other = on(Some("p2"), Action::READ, Some(&grants));
    assert!(!other.allowed, "{other:?}");
    assert_eq!(other.code.as_deref(), Some("project_not_granted"));
    assert!(on(None, Action::READ, Some(&grants)).allowed);
    assert!(!on(None, Action::WRITE, Some(&grants)).allowed);
    // Without limits every project is open to the role.
    assert!(on(Some("p2"), Action::WRITE, None).allowed);
    Ok(())
}

#[test]
fn the_shipped_set_keeps_every_invariant_and_passes_its_cases()
-> Result<(), Box<dyn std::error::Error>> {
    let engine = wrnexus_policies::reload::load_checked(&PolicySource::Shipped)?;
    let files = wrnexus_policies::cases::case_files(&PolicySource::Shipped)?;
    let results = wrnexus_policies::cases::run(&engine, &files)?;
    assert!(results.len() >= 80, "only {} cases", results.len());
    let failures: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // The directory in the repository is the same set, cases included.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    wrnexus_policies::reload::load_checked(&PolicySource::Dir(dir.to_path_buf()))?;
    assert_eq!(
        wrnexus_policies::cases::case_files(&PolicySource::Dir(dir.to_path_buf()))?.len(),
        files.len()
    );
    Ok(())
}

#[test]
fn a_rule_that_breaks_an_invariant_is_refused() -> Result<(), Box<dyn std::error::Error>> {
    let dir = common::edited(&[(
        "oops.cedar",
        "// Let viewers write, by mistake.\n@id(\"viewers-write\")\npermit (principal, action == WRNexus::Action::\"write\", resource)\nwhen { context.role == \"viewer\" };\n",
    )])?;
    let source = PolicySource::Dir(dir.path().to_path_buf());
    PolicyEngine::load(&source)?;
    let errors = wrnexus_policies::reload::load_checked(&source)
        .err()
        .ok_or("an invariant-breaking set was accepted")?
        .to_string();
    assert!(errors.contains("a viewer never writes"), "{errors}");
    assert!(
        errors.contains("`viewers-write` (") && errors.contains("oops.cedar:2)"),
        "{errors}"
    );
    assert!(!errors.contains("outside its workspace"), "{errors}");
    Ok(())
}

#[test]
fn a_case_states_the_problem_code_of_its_denial() -> Result<(), Box<dyn std::error::Error>> {
    let engine = PolicyEngine::shipped()?;
    let file = |code: &str| {
        vec![(
            "tests/codes.toml".to_string(),
            format!(
                "case = [\n  {{ name = \"archived\", role = \"owner\", action = \"write\", \
                 project = \"p1\", archived = true, expect = \"deny\", code = \"{code}\" }},\n]\n"
            ),
        )]
    };
    let right = wrnexus_policies::cases::run(&engine, &file("project_archived"))?;
    assert!(right.iter().all(|r| r.failure.is_none()), "{right:#?}");
    let wrong = wrnexus_policies::cases::run(&engine, &file("workspace_read_only"))?;
    let failure = wrong
        .first()
        .and_then(|r| r.failure.clone())
        .ok_or("a wrong code passed")?;
    assert!(
        failure.contains("expected problem code `workspace_read_only`, got `project_archived`"),
        "{failure}"
    );
    Ok(())
}
