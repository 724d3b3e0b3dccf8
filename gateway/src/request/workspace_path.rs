//! Workspace-named paths: `/w/{workspace_id}/…` (the prefix is configurable).
//! A link into another workspace of the user switches to it; a non-member
//! gets 404.
//!
//! The prefix is matched as every prefix is (canonical path, ASCII case
//! ignored), and the segment after it must be a plain workspace id: a
//! segment an app could read as an id plus something (`abc.json`, which
//! Rails reads as `abc` in JSON format) is refused rather than decided on
//! the cookie's workspace.

use crate::request::path;

/// A path under the workspace prefix whose next segment is no workspace id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the path segment `{0}` after the workspace prefix is not a workspace id")]
pub struct NotAnId(pub String);

/// The workspace id a path names under `prefix` (e.g. `/w/`), if any.
pub fn named<'p>(path: &'p str, prefix: &str) -> Result<Option<&'p str>, NotAnId> {
    if prefix.is_empty() || !path::under(path, prefix) {
        return Ok(None);
    }
    let Some(rest) = path::strip_prefix(path, prefix) else {
        return Ok(None);
    };
    let id = rest
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if id.is_empty() {
        return Ok(None);
    }
    let plain = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain {
        Ok(Some(id))
    } else {
        Err(NotAnId(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::{NotAnId, named};

    #[test]
    fn names_the_first_segment_after_the_prefix() {
        assert_eq!(named("/w/abc-1/docs/2", "/w/"), Ok(Some("abc-1")));
        assert_eq!(named("/w/abc", "/w/"), Ok(Some("abc")));
        assert_eq!(named("/W/abc/x", "/w/"), Ok(Some("abc")));
        assert_eq!(named("/w/", "/w/"), Ok(None));
        assert_eq!(named("/docs", "/w/"), Ok(None));
        assert_eq!(named("/wx/abc", "/w/"), Ok(None));
        assert_eq!(named("/w/abc/x", ""), Ok(None));
        assert_eq!(named("/ws/abc", "/ws"), Ok(Some("abc")));
    }

    #[test]
    fn a_segment_that_is_more_than_an_id_is_refused() {
        for (path, segment) in [
            ("/w/abc.json", "abc.json"),
            ("/w/abc%2Ex/y", "abc%2Ex"),
            ("/w/abc~1/y", "abc~1"),
            ("/w/abc_1", "abc_1"),
        ] {
            assert_eq!(named(path, "/w/"), Err(NotAnId(segment.into())), "{path}");
        }
    }
}
