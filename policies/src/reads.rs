//! What a loaded policy set reads of a request, found once at load by walking
//! every policy's JSON form. The decision memo keys on exactly these inputs,
//! so that requests differing only in what no policy looks at (another path
//! under the same rules, another user with the same role) share one answer.
//!
//! Two facts of Cedar make this sound:
//!
//! - No operator yields an entity's id as a value. Unless a policy names an
//!   entity literal (of a type other than an action) or is a template, ids
//!   matter only through equality and hierarchy among the request's own
//!   entities: whether an API key's workspace is the resource's workspace,
//!   whether the project is among the granted ones.
//! - A context string compared only with `==`/`!=` against literals, or
//!   tested with a set literal's `contains`, influences the decision only
//!   through which of those literals it equals. Any other use (`like`, a
//!   comparison with another attribute, `context` passed whole) makes the
//!   raw value part of the key.
//! - Likewise a context number (the session's age, the workspace's limit on
//!   it) compared only with `<`, `<=`, `>`, `>=`, `==`, `!=` against
//!   literals or against the other one influences the decision only through
//!   how it orders with them: the key holds those orderings, not the
//!   number (which changes every second).

use cedar_policy::PolicySet;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How the policies use one context string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrUse {
    /// No policy looks at it.
    Unread,
    /// Only compared with these literals.
    Compared(Vec<String>),
    /// Used in some other way: the value itself counts.
    Raw,
}

impl StrUse {
    /// The class of `value`: which literal it equals (1-based), 0 for none,
    /// or `None` when the raw value must be kept.
    pub fn class(&self, value: &str) -> Option<usize> {
        match self {
            StrUse::Unread => Some(0),
            StrUse::Compared(literals) => Some(
                literals
                    .iter()
                    .position(|l| l == value)
                    .map_or(0, |i| i + 1),
            ),
            StrUse::Raw => None,
        }
    }
}

/// How the policies use one context number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LongUse {
    /// No policy looks at it, but maybe to order it against the other
    /// number ([`Reads::age_against_max`]).
    Unread,
    /// Only ordered against these literals (and maybe the other number).
    Compared(Vec<i64>),
    /// Used in some other way: the value itself counts.
    Raw,
}

/// The context numbers the memo classifies: the session's age and the
/// workspace's limit on it.
pub const SESSION_AGE: &str = "session_age_secs";
pub const MAX_SESSION_AGE: &str = "max_session_age_secs";

/// The request inputs a policy set can depend on beyond the role, status,
/// credential, action, project limits and sign-in method, policy and IdP
/// (always part of a decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reads {
    /// Whether ids matter as such (an entity literal or a template), not
    /// only through the request's own equalities.
    pub ids: bool,
    pub plan: StrUse,
    pub method: StrUse,
    pub path: StrUse,
    pub session_age: LongUse,
    pub max_session_age: LongUse,
    /// Whether some policy orders the session's age against the limit.
    pub age_against_max: bool,
}

impl Reads {
    /// Everything counts: the safe answer when the analysis cannot run.
    pub fn everything() -> Self {
        Reads {
            ids: true,
            plan: StrUse::Raw,
            method: StrUse::Raw,
            path: StrUse::Raw,
            session_age: LongUse::Raw,
            max_session_age: LongUse::Raw,
            age_against_max: true,
        }
    }

    /// What the policies of `set` read.
    pub fn of(set: &PolicySet) -> Self {
        if set.templates().next().is_some() {
            return Reads::everything();
        }
        let mut walk = Walk::default();
        for policy in set.policies() {
            match policy.to_json() {
                Ok(json) => walk.policy(&json),
                Err(_) => return Reads::everything(),
            }
        }
        walk.finish()
    }
}

/// The context attributes the memo classifies.
const CLASSIFIED: [&str; 3] = ["plan", "method", "path"];

#[derive(Debug, Default)]
struct Walk {
    ids: bool,
    whole_context: bool,
    /// `None`: read raw; `Some`: only compared with these literals.
    attrs: BTreeMap<String, Option<BTreeSet<String>>>,
    /// The numbers ordered against literals, with the literals.
    longs: BTreeMap<String, BTreeSet<i64>>,
    /// The two numbers ordered against each other.
    age_against_max: bool,
}

impl Walk {
    fn finish(self) -> Reads {
        let use_of = |name: &str| {
            if self.whole_context {
                return StrUse::Raw;
            }
            match self.attrs.get(name) {
                None => StrUse::Unread,
                Some(None) => StrUse::Raw,
                Some(Some(literals)) => StrUse::Compared(literals.iter().cloned().collect()),
            }
        };
        let [plan, method, path] = CLASSIFIED.map(use_of);
        let long_use = |name: &str| {
            if self.whole_context || matches!(self.attrs.get(name), Some(None)) {
                return LongUse::Raw;
            }
            match self.longs.get(name) {
                None => LongUse::Unread,
                Some(literals) => LongUse::Compared(literals.iter().copied().collect()),
            }
        };
        Reads {
            ids: self.ids,
            plan,
            method,
            path,
            session_age: long_use(SESSION_AGE),
            max_session_age: long_use(MAX_SESSION_AGE),
            age_against_max: self.age_against_max || self.whole_context,
        }
    }

    /// An ordering of the two numbers, or of one against a literal; `false`
    /// when `left op right` is neither.
    fn ordered(&mut self, left: &Value, right: &Value) -> bool {
        let is_long = |a: &str| a == SESSION_AGE || a == MAX_SESSION_AGE;
        match (context_attr(left), context_attr(right)) {
            (Some(a), Some(b)) if is_long(a) && is_long(b) => {
                if a != b {
                    self.age_against_max = true;
                }
                true
            }
            (Some(a), None) | (None, Some(a)) if is_long(a) => {
                let other = if context_attr(left).is_some() {
                    right
                } else {
                    left
                };
                match other.get("Value").and_then(Value::as_i64) {
                    Some(literal) => {
                        self.longs.entry(a.to_string()).or_default().insert(literal);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    fn policy(&mut self, json: &Value) {
        for scope in ["principal", "resource"] {
            if json.get(scope).is_some_and(names_entity) {
                self.ids = true;
            }
        }
        if let Some(conditions) = json.get("conditions").and_then(Value::as_array) {
            for condition in conditions {
                if let Some(body) = condition.get("body") {
                    self.expr(body);
                }
            }
        }
    }

    fn raw(&mut self, attr: &str) {
        self.attrs.insert(attr.to_string(), None);
    }

    fn compared(&mut self, attr: &str, literals: impl IntoIterator<Item = String>) {
        let slot = self
            .attrs
            .entry(attr.to_string())
            .or_insert_with(|| Some(BTreeSet::new()));
        if let Some(known) = slot {
            known.extend(literals);
        }
    }

    fn expr(&mut self, e: &Value) {
        let op = match e {
            Value::Object(map) if map.len() == 1 => map.iter().next(),
            Value::Object(map) => {
                map.values().for_each(|v| self.expr(v));
                return;
            }
            Value::Array(items) => {
                items.iter().for_each(|v| self.expr(v));
                return;
            }
            _ => return,
        };
        let Some((op, body)) = op else { return };
        match op.as_str() {
            "Value" => {
                if names_entity(body) {
                    self.ids = true;
                }
            }
            "Var" => {
                if body.as_str() == Some("context") {
                    self.whole_context = true;
                }
            }
            "Slot" => self.ids = true,
            "Record" => {
                if let Some(fields) = body.as_object() {
                    fields.values().for_each(|v| self.expr(v));
                }
            }
            "<" | "<=" | ">" | ">=" if self.ordered(&body["left"], &body["right"]) => {}
            "==" | "!=" if self.ordered(&body["left"], &body["right"]) => {}
            "==" | "!=" => {
                let (left, right) = (&body["left"], &body["right"]);
                match (context_attr(left), context_attr(right)) {
                    (Some(attr), None) if string_literal(right).is_some() => {
                        self.compared(attr, string_literal(right));
                    }
                    (None, Some(attr)) if string_literal(left).is_some() => {
                        self.compared(attr, string_literal(left));
                    }
                    _ => {
                        self.expr(left);
                        self.expr(right);
                    }
                }
            }
            "contains" => {
                let (set, item) = (&body["left"], &body["right"]);
                match (string_set(set), context_attr(item)) {
                    (Some(literals), Some(attr)) => self.compared(attr, literals),
                    _ => {
                        self.expr(set);
                        self.expr(item);
                    }
                }
            }
            "." => match context_attr(e) {
                Some(attr) => self.raw(attr),
                None => self.expr(&body["left"]),
            },
            "has" => {
                // Whether the context has an attribute does not depend on
                // its value (the schema fixes the context's shape).
                if !is_context(&body["left"]) {
                    self.expr(&body["left"]);
                }
            }
            _ => self.expr(body),
        }
    }
}

fn is_context(e: &Value) -> bool {
    e.get("Var").and_then(Value::as_str) == Some("context")
}

/// `context.NAME`, as its name.
fn context_attr(e: &Value) -> Option<&str> {
    let get = e.get(".")?;
    if is_context(&get["left"]) {
        get["attr"].as_str()
    } else {
        None
    }
}

fn string_literal(e: &Value) -> Option<String> {
    e.get("Value")?.as_str().map(str::to_string)
}

/// A set literal of string literals only.
fn string_set(e: &Value) -> Option<Vec<String>> {
    let items = match (e.get("Set"), e.get("Value")) {
        (Some(Value::Array(items)), _) => items
            .iter()
            .map(string_literal)
            .collect::<Option<Vec<_>>>()?,
        (_, Some(Value::Array(items))) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    Some(items)
}

/// Whether `v` names an entity other than an action, anywhere inside.
fn names_entity(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            if let Some(inner) = map.get("__entity") {
                return !is_action(inner);
            }
            if map.get("type").is_some_and(Value::is_string)
                && map.get("id").is_some_and(Value::is_string)
            {
                return !is_action(v);
            }
            if map.contains_key("slot") {
                return true;
            }
            map.values().any(names_entity)
        }
        Value::Array(items) => items.iter().any(names_entity),
        _ => false,
    }
}

fn is_action(entity: &Value) -> bool {
    entity
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t == "Action" || t.ends_with("::Action"))
}

#[cfg(test)]
#[path = "reads_tests.rs"]
mod tests;
