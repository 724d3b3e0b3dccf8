//! Tests of the decision memo: which inputs split its key, and its bound.

use super::*;
use crate::model::{Role, WorkspaceStatus};
use crate::sign_in::{SignIn, SignInMethods};

/// The key of a request under what the policies `reads`.
fn key(req: &DecisionRequest<'_>, reads: &Reads) -> Key {
    let mut key = Vec::with_capacity(64);
    encode(&mut key, req, reads);
    key
}

fn base<'a>() -> DecisionRequest<'a> {
    DecisionRequest {
        principal: Principal::User("u1"),
        action: "write",
        workspace_id: "w1",
        project_id: None,
        project_archived: false,
        granted_projects: None,
        role: Some(Role::Member),
        workspace_status: WorkspaceStatus::Active,
        email_verified: true,
        plan: "free",
        method: "POST",
        path: "/notes",
        sign_in: SignIn::UNRESTRICTED,
    }
}

/// What the shipped policies read: method and path compared with
/// literals, no plan, no ids, the session's age against the limit.
fn shipped_like() -> Reads {
    Reads {
        ids: false,
        plan: StrUse::Unread,
        method: StrUse::Compared(vec!["GET".into(), "HEAD".into()]),
        path: StrUse::Compared(vec!["/.wrnexus/workspace/delete".into()]),
        session_age: LongUse::Unread,
        max_session_age: LongUse::Compared(vec![0]),
        age_against_max: true,
    }
}

#[test]
fn sessions_share_a_key_while_their_age_orders_alike() {
    let reads = shipped_like();
    let aged = |age: i64, max: i64| {
        key(
            &DecisionRequest {
                sign_in: SignIn {
                    session_age_secs: age,
                    max_session_age_secs: max,
                    ..SignIn::UNRESTRICTED
                },
                ..base()
            },
            &reads,
        )
    };
    assert_eq!(aged(10, 0), aged(5_000, 0));
    assert_eq!(aged(10, 600), aged(599, 600));
    assert_ne!(aged(10, 600), aged(601, 600));
    assert_ne!(aged(10, 0), aged(10, 600));
    let signed = |method: &'static str, sso: Option<&'static str>, allowed: SignInMethods| {
        key(
            &DecisionRequest {
                sign_in: SignIn {
                    method,
                    sso_workspace_id: sso,
                    allowed,
                    ..SignIn::UNRESTRICTED
                },
                ..base()
            },
            &reads,
        )
    };
    let all = SignInMethods::ALL;
    let sso = SignInMethods::SSO_ONLY;
    assert_ne!(signed("password", None, all), signed("password", None, sso));
    assert_ne!(
        signed("password", None, sso),
        signed("sso", Some("w1"), sso)
    );
    // The IdP of the request's workspace, or of another: as related.
    assert_ne!(
        signed("sso", Some("w1"), sso),
        signed("sso", Some("w2"), sso)
    );
    assert_eq!(
        signed("sso", Some("w2"), sso),
        signed("sso", Some("w3"), sso)
    );
}

#[test]
fn when_everything_is_read_every_input_changes_the_key() {
    let granted = vec!["p1".to_string()];
    let all = Reads::everything();
    let k = key(&base(), &all);
    assert_eq!(k, key(&base(), &all));
    let variants = [
        DecisionRequest {
            principal: Principal::User("u2"),
            ..base()
        },
        DecisionRequest {
            principal: Principal::ApiKey {
                id: "u1",
                workspace_id: "w1",
            },
            ..base()
        },
        DecisionRequest {
            action: "read",
            ..base()
        },
        DecisionRequest {
            workspace_id: "w2",
            ..base()
        },
        DecisionRequest {
            project_id: Some("p1"),
            ..base()
        },
        DecisionRequest {
            project_id: Some("p1"),
            project_archived: true,
            ..base()
        },
        DecisionRequest {
            granted_projects: Some(&granted),
            ..base()
        },
        DecisionRequest {
            role: Some(Role::Viewer),
            ..base()
        },
        DecisionRequest {
            role: None,
            ..base()
        },
        DecisionRequest {
            workspace_status: WorkspaceStatus::Suspended,
            ..base()
        },
        DecisionRequest {
            email_verified: false,
            ..base()
        },
        DecisionRequest {
            sign_in: SignIn::API_KEY,
            ..base()
        },
        DecisionRequest {
            sign_in: SignIn {
                sso_workspace_id: Some("w2"),
                ..SignIn::UNRESTRICTED
            },
            ..base()
        },
        DecisionRequest {
            sign_in: SignIn {
                session_age_secs: 7,
                ..SignIn::UNRESTRICTED
            },
            ..base()
        },
        DecisionRequest {
            plan: "team",
            ..base()
        },
        DecisionRequest {
            method: "GET",
            ..base()
        },
        DecisionRequest {
            path: "/notes/1",
            ..base()
        },
        // Field boundaries count: "w" + "1/notes" is not "w1" + "/notes".
        DecisionRequest {
            workspace_id: "w",
            plan: "1free",
            ..base()
        },
    ];
    for v in &variants {
        assert_ne!(key(v, &all), k, "{v:?}");
    }
}

#[test]
fn what_no_policy_reads_does_not_split_the_key() {
    let reads = shipped_like();
    let k = key(&base(), &reads);
    let same = [
        DecisionRequest {
            principal: Principal::User("someone else"),
            workspace_id: "w9",
            plan: "team",
            path: "/notes/42/comments",
            method: "PUT",
            ..base()
        },
        DecisionRequest {
            path: "/",
            method: "DELETE",
            ..base()
        },
    ];
    for v in &same {
        assert_eq!(key(v, &reads), k, "{v:?}");
    }
    let granted = vec!["p1".to_string(), "p2".to_string()];
    let different = [
        DecisionRequest {
            method: "GET",
            ..base()
        },
        DecisionRequest {
            path: "/.wrnexus/workspace/delete",
            ..base()
        },
        DecisionRequest {
            role: Some(Role::Viewer),
            ..base()
        },
        DecisionRequest {
            principal: Principal::ApiKey {
                id: "k",
                workspace_id: "w1",
            },
            ..base()
        },
        DecisionRequest {
            project_id: Some("p1"),
            ..base()
        },
        DecisionRequest {
            granted_projects: Some(&granted),
            ..base()
        },
    ];
    for v in &different {
        assert_ne!(key(v, &reads), k, "{v:?}");
    }
}

#[test]
fn ids_count_only_as_the_request_relates_them() {
    let reads = shipped_like();
    let key_in = |own: &'static str, ws: &'static str| {
        key(
            &DecisionRequest {
                principal: Principal::ApiKey {
                    id: "k",
                    workspace_id: own,
                },
                workspace_id: ws,
                ..base()
            },
            &reads,
        )
    };
    assert_eq!(key_in("a", "a"), key_in("b", "b"));
    assert_ne!(key_in("a", "a"), key_in("a", "b"));
    let granted = vec!["p1".to_string(), "p2".to_string()];
    let on = |project: &'static str| {
        key(
            &DecisionRequest {
                project_id: Some(project),
                granted_projects: Some(&granted),
                ..base()
            },
            &reads,
        )
    };
    assert_eq!(on("p1"), on("p2"));
    assert_ne!(on("p1"), on("p3"));
}

#[test]
fn an_archived_project_is_another_key() {
    let reads = shipped_like();
    let on = |project: Option<&'static str>, archived: bool| {
        key(
            &DecisionRequest {
                project_id: project,
                project_archived: archived,
                ..base()
            },
            &reads,
        )
    };
    assert_ne!(on(Some("p1"), false), on(Some("p1"), true));
    assert_eq!(on(Some("p1"), true), on(Some("p2"), true));
    // Without a project there is nothing archived.
    assert_eq!(on(None, false), on(None, true));
}

#[test]
fn the_memo_is_bounded() {
    let memo = Memo::default();
    let outcome = Outcome {
        allowed: true,
        policies: Arc::from([]),
        code: None,
    };
    for i in 0..=MEMO_CAPACITY {
        memo.put((i as u64).to_le_bytes().to_vec(), outcome.clone());
    }
    assert!(memo.len() <= MEMO_CAPACITY);
    assert!(!memo.is_empty());
}
