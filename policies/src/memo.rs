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

use crate::reads::{LongUse, Reads, StrUse};
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

/// Append a context number as the policies use it: how it orders against
/// the literals they compare it with, or itself.
fn long(key: &mut Key, value: i64, read: &LongUse) {
    match read {
        LongUse::Unread => {}
        LongUse::Compared(literals) => {
            for literal in literals {
                key.push(value.cmp(literal) as i8 as u8);
            }
        }
        LongUse::Raw => key.extend_from_slice(&value.to_le_bytes()),
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
    // The sign-in: its method and the workspace's allowed set, always (few
    // values); the ages as far as the policies order them.
    let sign_in = &req.sign_in;
    field(key, sign_in.method.as_bytes());
    key.push(sign_in.allowed.bits());
    long(key, sign_in.session_age_secs, &reads.session_age);
    long(key, sign_in.max_session_age_secs, &reads.max_session_age);
    if reads.age_against_max {
        key.push(sign_in.session_age_secs.cmp(&sign_in.max_session_age_secs) as i8 as u8);
    }
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
        match req.sign_in.sso_workspace_id {
            None => key.push(0),
            Some(w) => {
                key.push(1);
                field(key, w.as_bytes());
            }
        }
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
        let sso = req.sign_in.sso_workspace_id;
        match req.principal {
            Principal::User(_) => key.push(0),
            Principal::ApiKey { workspace_id, .. } => {
                key.push(1);
                key.push(u8::from(workspace_id == req.workspace_id));
                key.push(u8::from(sso == Some(workspace_id)));
            }
        }
        // Whether the IdP that signed the session in is the workspace's.
        key.push(u8::from(sso == Some(req.workspace_id)));
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
#[path = "memo_tests.rs"]
mod tests;
