//! Tests of the reads analysis: what a policy set is found to read.

use super::*;
use crate::engine::PolicyEngine;
use std::str::FromStr;

fn reads_of(text: &str) -> Reads {
    let set = PolicySet::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    Reads::of(&set)
}

#[test]
fn the_shipped_policies_read_method_and_path_literals_only() {
    let engine = PolicyEngine::shipped().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        engine.reads(),
        &Reads {
            ids: false,
            plan: StrUse::Unread,
            method: StrUse::Compared(vec!["GET".into(), "HEAD".into()]),
            path: StrUse::Compared(vec![
                crate::UNARCHIVE_PROJECT_PATH.into(),
                crate::DELETE_WORKSPACE_PATH.into()
            ]),
            session_age: LongUse::Unread,
            max_session_age: LongUse::Compared(vec![0]),
            age_against_max: true,
        }
    );
}

#[test]
fn numbers_ordered_against_literals_or_each_other_are_classified() {
    let reads = reads_of(
        r#"forbid (principal, action, resource) when { context.session_age_secs >= 60 };
           forbid (principal, action, resource) when { 600 < context.session_age_secs };
           forbid (principal, action, resource)
           when { context.max_session_age_secs != 0 && context.max_session_age_secs <= context.session_age_secs };"#,
    );
    assert_eq!(reads.session_age, LongUse::Compared(vec![60, 600]));
    assert_eq!(reads.max_session_age, LongUse::Compared(vec![0]));
    assert!(reads.age_against_max);
    let unread = reads_of(r#"permit (principal, action, resource) when { context.plan == "x" };"#);
    assert_eq!(unread.session_age, LongUse::Unread);
    assert!(!unread.age_against_max);
}

#[test]
fn numbers_used_otherwise_are_read_raw() {
    let reads = reads_of(
        r#"forbid (principal, action, resource)
           when { context.session_age_secs + 60 > context.max_session_age_secs };"#,
    );
    assert_eq!(reads.session_age, LongUse::Raw);
    assert_eq!(reads.max_session_age, LongUse::Raw);
    let whole = reads_of(r#"permit (principal, action, resource) when { context == {} };"#);
    assert_eq!(whole.session_age, LongUse::Raw);
}

#[test]
fn comparisons_with_literals_are_classified() {
    let reads = reads_of(
        r#"permit (principal, action, resource) when { context.plan == "team" };
           forbid (principal, action, resource) when { "pro" != context.plan };
           permit (principal, action, resource) when { ["/a", "/b"].contains(context.path) };"#,
    );
    assert_eq!(
        reads.plan,
        StrUse::Compared(vec!["pro".into(), "team".into()])
    );
    assert_eq!(reads.path, StrUse::Compared(vec!["/a".into(), "/b".into()]));
    assert_eq!(reads.method, StrUse::Unread);
    assert!(!reads.ids);
    assert_eq!(reads.path.class("/b"), Some(2));
    assert_eq!(reads.path.class("/c"), Some(0));
}

#[test]
fn any_other_use_keeps_the_raw_value() {
    let like =
        reads_of(r#"permit (principal, action, resource) when { context.path like "/admin/*" };"#);
    assert_eq!(like.path, StrUse::Raw);
    assert_eq!(like.path.class("/admin/x"), None);
    let cross = reads_of(
        r#"permit (principal, action, resource) when { context.plan == context.method };"#,
    );
    assert_eq!((cross.plan, cross.method), (StrUse::Raw, StrUse::Raw));
    let whole = reads_of(
        r#"permit (principal, action, resource) when { context has plan && context == context };"#,
    );
    assert_eq!(
        whole,
        Reads {
            ids: false,
            ..Reads::everything()
        }
    );
    // A record whose key looks like an operator is still walked as a record.
    let record = reads_of(
        r#"permit (principal, action, resource) when { {"Value": context.path}["Value"] == "x" };"#,
    );
    assert_eq!(record.path, StrUse::Raw);
}

#[test]
fn entity_literals_make_ids_count_but_actions_do_not() {
    let actions = reads_of(
        r#"permit (principal, action in [Action::"read", Action::"write"], resource)
           when { action == Action::"read" };"#,
    );
    assert!(!actions.ids);
    for text in [
        r#"permit (principal == User::"alice", action, resource);"#,
        r#"permit (principal, action, resource in Workspace::"w1");"#,
        r#"permit (principal, action, resource) when { resource == Workspace::"w1" };"#,
        r#"permit (principal, action, resource) when { [Project::"p"].contains(resource) };"#,
    ] {
        assert!(reads_of(text).ids, "{text}");
    }
}
