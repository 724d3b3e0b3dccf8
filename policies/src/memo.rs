//! Decisions remembered by what they depend on. A decision is a pure
//! function of its request and of the loaded policies, which never change
//! inside one engine (a reload makes a new engine, and with it a new memo).
//! The key holds every input the policies can read — see [`crate::reads`]:
//! the principal's kind, the action, the role, status and credential, the
//! project limits, whether the project is archived, and the ids, plan,
//! method and path as far as some policy looks at them — so a repeated decision, or one that differs only in what
//! no policy reads, is answered from here instead of being evaluated again.
//!
//! The key is an unambiguous encoding (every field tagged or
//! length-prefixed), compared in full: two requests share an answer only
//! when every input the policies can read is the same. Only error-free
//! evaluations are kept. The memo is bounded: when full it starts over.

use crate::reads::{Reads, StrUse};
use crate::request::{DecisionRequest, Principal};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Most decisions remembered before the memo starts over.
pub const MEMO_CAPACITY: usize = 65_536;

/// What an evaluation concluded, without the per-decision id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub policies: Arc<[String]>,
    pub code: Option<String>,
}

/// A memo key: the encoded inputs of one decision.
pub type Key = Vec<u8>;

/// The memo of one engine. Keys carry request input (a path, when some
/// policy reads it), so the hasher is keyed at random per memo.
#[derive(Debug, Default)]
pub struct Memo {
    entries: RwLock<HashMap<Key, Arc<Outcome>, ahash::RandomState>>,
}

/// Append a field, length first, so that no two sequences of fields encode alike.
fn field(key: &mut Key, value: &[u8]) {
    key.extend_from_slice(&(value.len() as u64).to_le_bytes());
    key.extend_from_slice(value);
}

/// Append a context string as the policies use it.
fn string(key: &mut Key, value: &str, read: &StrUse) {
    match read.class(value) {
        Some(class) => {
            key.push(0);
            key.extend_from_slice(&(class as u64).to_le_bytes());
        }
        None => {
            key.push(1);
            field(key, value.as_bytes());
        }
    }
}

/// Run `f` with this thread's key buffer, emptied (a fresh one if it is
/// somehow in use): looking a decision up allocates nothing.
pub fn with_buffer<T>(f: impl FnOnce(&mut Key) -> T) -> T {
    thread_local! {
        static BUFFER: RefCell<Key> = const { RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            f(&mut buffer)
        }
        Err(_) => f(&mut Vec::with_capacity(64)),
    })
}

/// Append the key of a request under what the policies `reads` to `key`.
pub fn encode(key: &mut Key, req: &DecisionRequest<'_>, reads: &Reads) {
    field(key, req.action.as_bytes());
    key.push(req.role.map_or(0, |r| r as u8 + 1));
    key.push(req.workspace_status as u8);
    key.push(u8::from(req.email_verified));
    string(key, req.plan, &reads.plan);
    string(key, req.method, &reads.method);
    string(key, req.path, &reads.path);
    let mut granted: Vec<&str> = req
        .granted_projects
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    granted.sort_unstable();
    granted.dedup();
    key.push(u8::from(req.granted_projects.is_some()));
    // Whether the project is archived: an attribute of the resource, read
    // like the role, always (nothing to say without a project).
    key.push(u8::from(req.project_id.is_some() && req.project_archived));
    if reads.ids {
        // Ids as such: every one, the granted set in a canonical order.
        match req.principal {
            Principal::User(id) => {
                key.push(0);
                field(key, id.as_bytes());
            }
            Principal::ApiKey { id, workspace_id } => {
                key.push(1);
                field(key, id.as_bytes());
                field(key, workspace_id.as_bytes());
            }
        }
        field(key, req.workspace_id.as_bytes());
        match req.project_id {
            None => key.push(0),
            Some(p) => {
                key.push(1);
                field(key, p.as_bytes());
            }
        }
        key.extend_from_slice(&(granted.len() as u64).to_le_bytes());
        for p in granted {
            field(key, p.as_bytes());
        }
    } else {
        // Ids only as the request relates them.
        match req.principal {
            Principal::User(_) => key.push(0),
            Principal::ApiKey { workspace_id, .. } => {
                key.push(1);
                key.push(u8::from(workspace_id == req.workspace_id));
            }
        }
        let project = req.project_id;
        key.push(u8::from(project.is_some()));
        let granted_it = project.is_some_and(|p| granted.contains(&p));
        key.push(u8::from(granted_it));
        let others = granted.len() - usize::from(granted_it);
        key.extend_from_slice(&(others as u64).to_le_bytes());
    }
}

impl Memo {
    pub fn get(&self, key: &[u8]) -> Option<Arc<Outcome>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub fn put(&self, key: Key, outcome: Outcome) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MEMO_CAPACITY {
            entries.clear();
        }
        entries.insert(key, Arc::new(outcome));
    }

    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Role, WorkspaceStatus};

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
        }
    }

    /// What the shipped policies read: method and path compared with
    /// literals, no plan, no ids.
    fn shipped_like() -> Reads {
        Reads {
            ids: false,
            plan: StrUse::Unread,
            method: StrUse::Compared(vec!["GET".into(), "HEAD".into()]),
            path: StrUse::Compared(vec!["/.wrnexus/workspace/delete".into()]),
        }
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
}
