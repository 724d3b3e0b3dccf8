//! Workspace-named paths: `/w/{workspace_id}/…` (the prefix is configurable).
//! A link into another workspace of the user switches to it; a non-member
//! gets 404.

/// The workspace id a path names under `prefix` (e.g. `/w/`), if any.
pub fn named<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    if prefix.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(prefix)?;
    let id = rest.split('/').next().unwrap_or_default();
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::named;

    #[test]
    fn names_the_first_segment_after_the_prefix() {
        assert_eq!(named("/w/abc-1/docs/2", "/w/"), Some("abc-1"));
        assert_eq!(named("/w/abc", "/w/"), Some("abc"));
        assert_eq!(named("/w/", "/w/"), None);
        assert_eq!(named("/docs", "/w/"), None);
        assert_eq!(named("/w/a%2Fb/x", "/w/"), None);
        assert_eq!(named("/w/abc/x", ""), None);
    }
}
