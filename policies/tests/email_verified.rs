//! `context.email_verified`: the shipped rules do not read it, and the
//! shipped example that requires it refuses an unverified person's session
//! in its workspace with `email_unverified`, and nothing else.

mod common;

use wrnexus_policies::PolicySource;

const EXAMPLE: &str = include_str!("../examples/require_verified_email.cedar");

const CASES: &str = r#"
[[case]]
name = "an unverified member is refused in the workspace requiring it"
role = "member"
action = "read"
workspace = "ws_123"
email_verified = false
expect = "deny"
policies = ["require-verified-email"]
code = "email_unverified"

[[case]]
name = "an unverified owner cannot even administer there"
role = "owner"
action = "admin"
workspace = "ws_123"
email_verified = false
expect = "deny"
code = "email_unverified"

[[case]]
name = "a verified member reads there"
role = "member"
action = "read"
workspace = "ws_123"
expect = "allow"
policies = ["role-read"]

[[case]]
name = "an unverified member reads in another workspace"
role = "member"
action = "read"
workspace = "ws_9"
email_verified = false
expect = "allow"

[[case]]
name = "an API key works there (no email stands behind it)"
principal = "api_key"
role = "member"
action = "write"
workspace = "ws_123"
email_verified = false
expect = "allow"
"#;

#[test]
fn the_example_requires_a_verified_email_in_its_workspace_only()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = common::edited(&[
        ("require_verified_email.cedar", EXAMPLE),
        ("tests/email_verified.toml", CASES),
    ])?;
    let source = PolicySource::Dir(dir.path().to_path_buf());
    let engine = wrnexus_policies::reload::load_checked(&source)?;
    let files = wrnexus_policies::cases::case_files(&source)?;
    let results = wrnexus_policies::cases::run(&engine, &files)?;
    assert_eq!(results.len(), 5);
    let failures: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    Ok(())
}

#[test]
fn the_shipped_rules_decide_unverified_people_like_anyone() -> Result<(), Box<dyn std::error::Error>>
{
    let engine = wrnexus_policies::PolicyEngine::shipped()?;
    let files = wrnexus_policies::cases::case_files(&PolicySource::Shipped)?;
    let ours: Vec<_> = files
        .into_iter()
        .filter(|(name, _)| name == "tests/email_verified.toml")
        .collect();
    assert_eq!(ours.len(), 1);
    let results = wrnexus_policies::cases::run(&engine, &ours)?;
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r.failure.is_none()), "{results:#?}");
    Ok(())
}
