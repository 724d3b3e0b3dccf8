//! What a policy set can tell requests apart by: the context attributes its
//! conditions read and the string literals they compare with, found by
//! walking each policy's JSON form. The invariant check builds the request
//! space it evaluates from these.

use cedar_policy::PolicySet;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The operators whose two operands are compared: a literal on one side of
/// `context.<attribute>` is a value of that attribute worth trying.
const COMPARISONS: [&str; 5] = ["==", "!=", "contains", "containsAll", "containsAny"];

/// The attributes and literals of a policy set's conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    /// Context attributes some condition reads.
    read: BTreeSet<String>,
    /// Some condition uses `context` as a whole, or a policy could not be
    /// walked: every attribute counts as read.
    everything_read: bool,
    /// Literals compared directly with one attribute, by attribute.
    attached: BTreeMap<String, BTreeSet<String>>,
    /// Every other literal (compared with something else, or used otherwise).
    loose: BTreeSet<String>,
    /// Attributes some `like` pattern is matched against.
    patterned: BTreeSet<String>,
    /// Some `like` pattern is matched against something else than one
    /// attribute: any attribute may be.
    everything_patterned: bool,
    /// Some condition names an entity (`Type::"id"`).
    names_entities: bool,
}

/// The attribute `expr` reads when it is exactly `context.<attribute>`.
fn context_attribute(expr: &Value) -> Option<&str> {
    let dot = expr.get(".")?;
    (dot.get("left")?.get("Var")?.as_str()? == "context")
        .then(|| dot.get("attr")?.as_str())
        .flatten()
}

/// A string matching a `like` pattern: its literal parts, each wildcard
/// matching nothing.
fn pattern_sample(pattern: &Value) -> String {
    pattern
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("Literal")?.as_str())
                .collect()
        })
        .unwrap_or_default()
}

impl Vocabulary {
    /// The vocabulary of every policy and template of `policies`.
    pub fn of(policies: &PolicySet) -> Vocabulary {
        Vocabulary::of_all(&[policies])
    }

    /// The vocabulary of every policy and template of all of `sets`.
    pub fn of_all(sets: &[&PolicySet]) -> Vocabulary {
        let mut v = Vocabulary::default();
        let forms = sets.iter().flat_map(|policies| {
            policies
                .policies()
                .map(cedar_policy::Policy::to_json)
                .chain(policies.templates().map(cedar_policy::Template::to_json))
        });
        for form in forms {
            match form {
                Ok(json) => {
                    for condition in json
                        .get("conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(body) = condition.get("body") {
                            v.walk(body, None);
                        }
                    }
                }
                // Nothing known about it: assume it reads everything.
                Err(_) => v.everything_read = true,
            }
        }
        v
    }

    /// Whether some condition reads `context.<attribute>`.
    pub fn reads(&self, attribute: &str) -> bool {
        self.everything_read || self.read.contains(attribute)
    }

    /// The literals worth trying as values of `attribute`: those compared
    /// with it, and those whose use could not be tied to one attribute.
    pub fn values_of(&self, attribute: &str) -> BTreeSet<String> {
        let mut values = self.loose.clone();
        if let Some(attached) = self.attached.get(attribute) {
            values.extend(attached.iter().cloned());
        }
        values
    }

    /// Whether `attribute` is only ever compared for equality (never matched
    /// against a `like` pattern): then any two values that equal none of
    /// [`Self::values_of`] are decided alike.
    pub fn only_compared(&self, attribute: &str) -> bool {
        !self.everything_patterned && !self.patterned.contains(attribute)
    }

    /// Whether some condition names an entity by its id (then the ids of
    /// requests matter, not only their shape).
    pub fn names_entities(&self) -> bool {
        self.names_entities
    }

    /// Every literal, wherever it appears.
    pub fn literals(&self) -> BTreeSet<String> {
        let mut all = self.loose.clone();
        for values in self.attached.values() {
            all.extend(values.iter().cloned());
        }
        all
    }

    fn literal(&mut self, value: String, attribute: Option<&str>) {
        match attribute {
            Some(a) => {
                self.attached
                    .entry(a.to_string())
                    .or_default()
                    .insert(value);
            }
            None => {
                self.loose.insert(value);
            }
        }
    }

    /// Walk one expression; literals found are tied to `attribute` when the
    /// expression is compared with it.
    fn walk(&mut self, expr: &Value, attribute: Option<&str>) {
        match expr {
            Value::Array(items) => {
                for item in items {
                    self.walk(item, attribute);
                }
            }
            Value::Object(map) => {
                for (key, inner) in map {
                    self.walk_node(key, inner, attribute);
                }
            }
            _ => {}
        }
    }

    fn walk_node(&mut self, key: &str, inner: &Value, attribute: Option<&str>) {
        match key {
            "Value" => match inner {
                Value::String(s) => self.literal(s.clone(), attribute),
                Value::Object(_) => self.names_entities = true,
                _ => {}
            },
            "Var" => {
                if inner.as_str() == Some("context") {
                    self.everything_read = true;
                }
            }
            "." | "has" => {
                let left = inner.get("left");
                if left.and_then(|l| l.get("Var")).and_then(Value::as_str) == Some("context") {
                    // `context has x` reads no value; `context.x` reads x.
                    if let (".", Some(a)) = (key, inner.get("attr").and_then(Value::as_str)) {
                        self.read.insert(a.to_string());
                    }
                } else if let Some(left) = left {
                    self.walk(left, attribute);
                }
            }
            "like" => {
                let left = inner.get("left");
                let compared = left.and_then(context_attribute).map(str::to_string);
                match &compared {
                    Some(a) => {
                        self.patterned.insert(a.clone());
                    }
                    None => self.everything_patterned = true,
                }
                if let Some(left) = left {
                    self.walk(left, attribute);
                }
                let sample = inner.get("pattern").map(pattern_sample);
                self.literal(
                    sample.unwrap_or_default(),
                    compared.as_deref().or(attribute),
                );
            }
            op if COMPARISONS.contains(&op) => {
                let (left, right) = (inner.get("left"), inner.get("right"));
                let left_attr = left.and_then(context_attribute).map(str::to_string);
                let right_attr = right.and_then(context_attribute).map(str::to_string);
                for (side, other_attr) in [(left, &right_attr), (right, &left_attr)] {
                    if let Some(side) = side {
                        self.walk(side, other_attr.as_deref().or(attribute));
                    }
                }
            }
            _ => self.walk(inner, attribute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn vocabulary(text: &str) -> Result<Vocabulary, Box<dyn std::error::Error>> {
        Ok(Vocabulary::of(&PolicySet::from_str(text)?))
    }

    #[test]
    fn literals_are_tied_to_the_attribute_they_are_compared_with()
    -> Result<(), Box<dyn std::error::Error>> {
        let v = vocabulary(
            r#"permit (principal, action, resource)
               when { context.plan == "team" && ["GET", "HEAD"].contains(context.method) }
               unless { context.path like "/beta/*/edit" || "x" == "y" };"#,
        )?;
        assert!(v.reads("plan") && v.reads("method") && v.reads("path"));
        assert!(!v.reads("role"), "{v:?}");
        assert_eq!(
            v.values_of("plan"),
            ["team", "x", "y"].map(String::from).into()
        );
        assert!(v.values_of("method").contains("HEAD"), "{v:?}");
        assert!(!v.values_of("plan").contains("GET"), "{v:?}");
        // A `like` pattern gives a string it matches.
        assert!(v.values_of("path").contains("/beta//edit"), "{v:?}");
        assert_eq!(v.literals().len(), 6, "{v:?}");
        assert!(
            v.only_compared("method") && v.only_compared("plan"),
            "{v:?}"
        );
        assert!(!v.only_compared("path"), "{v:?}");
        Ok(())
    }

    #[test]
    fn annotations_and_entity_ids_are_not_literals() -> Result<(), Box<dyn std::error::Error>> {
        let v = vocabulary(
            r#"@id("named") @code("some_code")
               permit (principal, action, resource == Workspace::"w1")
               when { context has plan && resource in Workspace::"w2" };"#,
        )?;
        assert!(v.literals().is_empty(), "{v:?}");
        assert!(v.names_entities(), "{v:?}");
        // `has` does not read a value.
        assert!(!v.reads("plan"), "{v:?}");
        Ok(())
    }

    #[test]
    fn using_the_whole_context_reads_every_attribute() -> Result<(), Box<dyn std::error::Error>> {
        let v = vocabulary(
            r#"permit (principal, action, resource) when { context == { "plan": "team" } };"#,
        )?;
        assert!(v.reads("plan") && v.reads("anything"), "{v:?}");
        assert!(v.values_of("path").contains("team"), "{v:?}");
        Ok(())
    }
}
