//! The project a request names, as its route says to read it: a path
//! pattern matched on the canonical path (so every spelling of a path names
//! the same project), or a header the app's own client sends. What is read
//! must look like an id; whether the project is in the request's workspace
//! is decided later, on its decision data.

use crate::config::{ProjectConfig, ProjectFrom};
use http::{HeaderMap, HeaderName};
use wrnexus_contract::headers;

/// A project setting the gateway cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectSettingError {
    #[error(
        "project path `{0}` must start with `/` and name `{{project_id}}` exactly once, \
         each placeholder a whole segment"
    )]
    BadPattern(String),
    #[error(
        "project header `{0}` is not a header name the gateway leaves to the client \
         (not an identity or forwarding header, not `x-wrnexus-…`)"
    )]
    BadHeader(String),
}

/// Why the project a request names cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectNameError {
    #[error("the project header is repeated or not text")]
    Unreadable,
    #[error("`{0}` is not a project id")]
    NotAnId(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
    Project,
}

/// Where a route reads the project, ready to match.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProjectLocator {
    Path(Vec<Segment>),
    Header(HeaderName),
}

/// A route's project setting, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteProject {
    locator: ProjectLocator,
    pub required: bool,
}

/// Ids are made by the control plane: letters, digits, `-` and `_`.
pub fn looks_like_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn pattern(text: &str) -> Result<Vec<Segment>, ProjectSettingError> {
    let bad = || ProjectSettingError::BadPattern(text.to_string());
    let rest = text.strip_prefix('/').ok_or_else(bad)?;
    let segments: Vec<Segment> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| match s {
            "{project_id}" => Ok(Segment::Project),
            "" => Err(bad()),
            s if s.starts_with('{') && s.ends_with('}') => Ok(Segment::Any),
            s if s.contains(['{', '}'])
                || crate::request::path::check(&format!("/{s}")).is_err() =>
            {
                Err(bad())
            }
            s => Ok(Segment::Literal(s.to_string())),
        })
        .collect::<Result<_, _>>()?;
    if segments.iter().filter(|s| **s == Segment::Project).count() != 1 {
        return Err(bad());
    }
    Ok(segments)
}

/// The headers a client may not set for the app: the identity set, the
/// forwarding headers, and the gateway's own.
fn reserved(name: &str) -> bool {
    headers::SET_FOR_APPS.contains(&name)
        || name.starts_with(headers::OWN_PREFIX)
        || matches!(name, "cookie" | "authorization" | "host")
}

impl RouteProject {
    pub fn new(config: &ProjectConfig) -> Result<Self, ProjectSettingError> {
        let locator = match &config.from {
            ProjectFrom::Path(text) => ProjectLocator::Path(pattern(text)?),
            ProjectFrom::Header(name) => {
                let lower = name.to_ascii_lowercase();
                let bad = || ProjectSettingError::BadHeader(name.clone());
                // Spelled with `_` or `.`, an identity header is still one.
                if reserved(&lower.replace(['_', '.'], "-")) {
                    return Err(bad());
                }
                ProjectLocator::Header(HeaderName::from_bytes(lower.as_bytes()).map_err(|_| bad())?)
            }
        };
        Ok(RouteProject {
            locator,
            required: config.required,
        })
    }

    /// The project `path` (canonical) or `headers` name, if any.
    pub fn named<'r>(
        &self,
        path: &'r str,
        headers: &'r HeaderMap,
    ) -> Result<Option<&'r str>, ProjectNameError> {
        let found = match &self.locator {
            ProjectLocator::Path(segments) => {
                let mut parts = path.strip_prefix('/').unwrap_or(path).split('/');
                let mut project = None;
                for segment in segments {
                    let Some(part) = parts.next().filter(|p| !p.is_empty()) else {
                        return Ok(None);
                    };
                    match segment {
                        Segment::Literal(l) if !l.eq_ignore_ascii_case(part) => return Ok(None),
                        Segment::Project => project = Some(part),
                        _ => {}
                    }
                }
                project
            }
            ProjectLocator::Header(name) => {
                let mut all = headers.get_all(name).iter();
                match (all.next(), all.next()) {
                    (None, _) => None,
                    (Some(v), None) => {
                        Some(v.to_str().map_err(|_| ProjectNameError::Unreadable)?.trim())
                    }
                    (Some(_), Some(_)) => return Err(ProjectNameError::Unreadable),
                }
            }
        };
        match found {
            Some(id) if !looks_like_id(id) => Err(ProjectNameError::NotAnId(id.to_string())),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_rule(p: &str) -> RouteProject {
        RouteProject::new(&ProjectConfig {
            from: ProjectFrom::Path(p.into()),
            required: false,
        })
        .unwrap()
    }

    #[test]
    fn patterns_capture_the_project_segment() {
        let rule = path_rule("/w/{workspace_id}/p/{project_id}");
        let none = HeaderMap::new();
        assert_eq!(rule.named("/w/w1/p/p-7/tasks", &none), Ok(Some("p-7")));
        assert_eq!(rule.named("/W/w1/P/p-7", &none), Ok(Some("p-7")));
        assert_eq!(rule.named("/w/w1/x/p-7", &none), Ok(None));
        assert_eq!(rule.named("/w/w1/p", &none), Ok(None));
        assert_eq!(rule.named("/w/w1/p/", &none), Ok(None));
        assert_eq!(
            rule.named("/w/w1/p/%2E%2E", &none),
            Err(ProjectNameError::NotAnId("%2E%2E".into()))
        );
        let short = path_rule("/projects/{project_id}/");
        assert_eq!(short.named("/projects/abc", &none), Ok(Some("abc")));
    }

    #[test]
    fn bad_settings_are_refused() {
        for p in [
            "p/{project_id}",
            "/p/{workspace_id}",
            "/p/{project_id}/{project_id}",
            "/p//{project_id}",
            "/a{project_id}",
            "/../{project_id}",
        ] {
            let got = RouteProject::new(&ProjectConfig {
                from: ProjectFrom::Path(p.into()),
                required: false,
            });
            assert!(got.is_err(), "{p}");
        }
        for h in [
            "X-Project-Id",
            "x_project_id",
            "X-WRNexus-Project",
            "x-user-id",
            "cookie",
            "bad header",
        ] {
            let got = RouteProject::new(&ProjectConfig {
                from: ProjectFrom::Header(h.into()),
                required: true,
            });
            assert!(got.is_err(), "{h}");
        }
    }

    #[test]
    fn a_header_names_the_project_once() {
        let rule = RouteProject::new(&ProjectConfig {
            from: ProjectFrom::Header("X-App-Project".into()),
            required: true,
        })
        .unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(rule.named("/", &h), Ok(None));
        h.insert("x-app-project", "p1".parse().unwrap());
        assert_eq!(rule.named("/", &h), Ok(Some("p1")));
        h.append("x-app-project", "p2".parse().unwrap());
        assert_eq!(rule.named("/", &h), Err(ProjectNameError::Unreadable));
    }
}
