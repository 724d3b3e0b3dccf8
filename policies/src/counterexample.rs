//! A counterexample the solver found: a Cedar request and the entities it
//! is decided with, described for people ("principal …, action …, resource
//! …, context {…}; entities: …"), and the decision a policy set's engine
//! gives it, with the policies that made it (file and line).

use crate::engine::{Decision, PolicyEngine};
use cedar_policy::{Entities, EntityUid, Request};
use std::fmt;

/// A concrete request, as the solver built it.
#[derive(Debug, Clone)]
pub struct Counterexample {
    pub request: Request,
    pub entities: Entities,
}

impl From<cedar_policy_symcc::Env> for Counterexample {
    fn from(env: cedar_policy_symcc::Env) -> Self {
        Counterexample {
            request: env.request,
            entities: env.entities,
        }
    }
}

impl Counterexample {
    /// How `engine` decides it.
    pub fn decide(&self, engine: &PolicyEngine) -> Decision {
        engine.decide_cedar(&self.request, &self.entities)
    }

    /// The context attribute `name`, when it is a string.
    pub fn context_string(&self, name: &str) -> Option<String> {
        match self.request.context()?.get(name)? {
            cedar_policy::EvalResult::String(s) => Some(s),
            _ => None,
        }
    }
}

impl Counterexample {
    /// The entities that carry something (attributes or parents), each in
    /// words, sorted: `WRNexus::ApiKey::"k" {workspace: …}`,
    /// `WRNexus::Project::"p" in [WRNexus::Workspace::"w"]`.
    pub fn entities_in_words(&self) -> Vec<String> {
        let mut described = Vec::new();
        for entity in self.entities.iter() {
            if entity.uid().type_name().basename() == "Action" {
                continue;
            }
            let mut attrs: Vec<String> = entity
                .attrs()
                .map(|(k, v)| match v {
                    Ok(v) => format!("{k}: {v}"),
                    Err(_) => format!("{k}: ?"),
                })
                .collect();
            attrs.sort();
            let (id, _, parents) = entity.clone().into_inner();
            let mut parents: Vec<String> = parents.iter().map(ToString::to_string).collect();
            parents.sort();
            if attrs.is_empty() && parents.is_empty() {
                continue;
            }
            let mut text = id.to_string();
            if !attrs.is_empty() {
                text.push_str(&format!(" {{{}}}", attrs.join(", ")));
            }
            if !parents.is_empty() {
                text.push_str(&format!(" in [{}]", parents.join(", ")));
            }
            described.push(text);
        }
        described.sort();
        described
    }
}

fn uid(uid: Option<&EntityUid>) -> String {
    uid.map_or_else(|| "?".to_string(), ToString::to_string)
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = self
            .request
            .action()
            .map_or_else(|| "?".to_string(), |a| a.id().unescaped().to_string());
        write!(
            f,
            "principal {}, action `{action}`, resource {}",
            uid(self.request.principal()),
            uid(self.request.resource()),
        )?;
        if let Some(context) = self.request.context() {
            let mut names: Vec<String> = context.clone().into_iter().map(|(k, _)| k).collect();
            names.sort();
            f.write_str(", context {")?;
            for (i, name) in names.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                match context.get(name) {
                    Some(value) => write!(f, "{sep}{name}: {value}")?,
                    None => write!(f, "{sep}{name}: ?")?,
                }
            }
            f.write_str("}")?;
        }
        let described = self.entities_in_words();
        if !described.is_empty() {
            write!(f, "; entities: {}", described.join(", "))?;
        }
        Ok(())
    }
}

/// A decision in words, naming the policies (with file and line) that made
/// it: "allowed by `role-write` (roles.cedar:13)", "denied by `x` (…)",
/// "denied: no permit matches it (default deny)".
pub fn decision_in_words(engine: &PolicyEngine, decision: &Decision) -> String {
    if !decision.errors.is_empty() {
        return format!(
            "denied: evaluation errors deny ({})",
            decision.errors.join("; ")
        );
    }
    let named = named_policies(engine, &decision.policies);
    if decision.allowed {
        format!("allowed by {named}")
    } else if decision.policies.is_empty() {
        "denied: no permit matches it (default deny)".to_string()
    } else {
        format!("denied by {named}")
    }
}

/// Policy ids with the file and line they were written at.
pub fn named_policies(engine: &PolicyEngine, ids: &[String]) -> String {
    ids.iter()
        .map(|p| match engine.origin(p) {
            Some(o) => format!("`{p}` ({}:{})", o.file, o.line),
            None => format!("`{p}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
