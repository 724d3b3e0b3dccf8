//! Decisions remembered by their exact inputs. A decision is a pure function
//! of its request (every entity and context value is built from it) and of
//! the loaded policies, which never change inside one engine (a reload makes
//! a new engine, and with it a new memo). So a repeated request — the same
//! principal, action, workspace, project, grants, role, status, plan, method
//! and path — is answered from here instead of being evaluated again.
//!
//! The key is the SHA-256 of an unambiguous encoding of every input, so two
//! different requests cannot share an answer. Only error-free evaluations
//! are kept. The memo is bounded: when full it starts over.

use crate::engine::{DecisionRequest, Principal};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Most decisions remembered before the memo starts over.
pub const MEMO_CAPACITY: usize = 65_536;

/// What an evaluation concluded, without the per-decision id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub policies: Vec<String>,
    pub code: Option<String>,
}

/// The memo of one engine.
#[derive(Debug, Default)]
pub struct Memo {
    entries: RwLock<HashMap<[u8; 32], Arc<Outcome>>>,
}

/// Feed a field, length first, so that no two sequences of fields encode alike.
fn field(hasher: &mut Sha256, value: &[u8]) {
    hasher.update((value.len() as u64).to_le_bytes());
    hasher.update(value);
}

fn optional(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        None => hasher.update([0]),
        Some(v) => {
            hasher.update([1]);
            field(hasher, v.as_bytes());
        }
    }
}

/// The key of a request: every input of its evaluation.
pub fn key(req: &DecisionRequest<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    match req.principal {
        Principal::User(id) => {
            h.update([0]);
            field(&mut h, id.as_bytes());
        }
        Principal::ApiKey { id, workspace_id } => {
            h.update([1]);
            field(&mut h, id.as_bytes());
            field(&mut h, workspace_id.as_bytes());
        }
    }
    field(&mut h, req.action.as_bytes());
    field(&mut h, req.workspace_id.as_bytes());
    optional(&mut h, req.project_id);
    match req.granted_projects {
        None => h.update([0]),
        Some(projects) => {
            h.update([1]);
            h.update((projects.len() as u64).to_le_bytes());
            for p in projects {
                field(&mut h, p.as_bytes());
            }
        }
    }
    optional(&mut h, req.role.map(|r| r.as_str()));
    field(&mut h, req.workspace_status.as_str().as_bytes());
    field(&mut h, req.plan.as_bytes());
    field(&mut h, req.method.as_bytes());
    field(&mut h, req.path.as_bytes());
    h.finalize().into()
}

impl Memo {
    pub fn get(&self, key: &[u8; 32]) -> Option<Arc<Outcome>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub fn put(&self, key: [u8; 32], outcome: Outcome) {
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

    fn base<'a>() -> DecisionRequest<'a> {
        DecisionRequest {
            principal: Principal::User("u1"),
            action: "write",
            workspace_id: "w1",
            project_id: None,
            granted_projects: None,
            role: Some(Role::Member),
            workspace_status: WorkspaceStatus::Active,
            plan: "free",
            method: "POST",
            path: "/notes",
        }
    }

    #[test]
    fn every_input_changes_the_key() {
        let granted = vec!["p1".to_string()];
        let k = key(&base());
        assert_eq!(k, key(&base()));
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
            assert_ne!(key(v), k, "{v:?}");
        }
    }

    #[test]
    fn the_memo_is_bounded() {
        let memo = Memo::default();
        let outcome = Outcome {
            allowed: true,
            policies: vec![],
            code: None,
        };
        for i in 0..=MEMO_CAPACITY {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            memo.put(k, outcome.clone());
        }
        assert!(memo.len() <= MEMO_CAPACITY);
        assert!(!memo.is_empty());
    }
}
