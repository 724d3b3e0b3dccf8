//! A request's path as the access log and traces show it: the control
//! plane's paths that carry a bearer secret (an invitation's token, which
//! accepts it) show the secret masked; every other path as it is.

use std::borrow::Cow;

/// Paths whose next segment is an invitation's token.
const TOKEN_PREFIXES: [&str; 2] = ["/.wrnexus/invitations/", "/.wrnexus/api/v1/invitations/"];

/// What stands in for a masked secret.
const MASK: &str = "…";

/// `path` with any secret it carries masked.
pub fn loggable(path: &str) -> Cow<'_, str> {
    for prefix in TOKEN_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            let after = rest.find('/').map_or("", |i| &rest[i..]);
            return Cow::Owned(format!("{prefix}{MASK}{after}"));
        }
    }
    Cow::Borrowed(path)
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn invitation_tokens_are_masked() {
        assert_eq!(
            loggable("/.wrnexus/invitations/inv_secret123"),
            "/.wrnexus/invitations/…"
        );
        assert_eq!(
            loggable("/.wrnexus/invitations/inv_secret123/accept"),
            "/.wrnexus/invitations/…/accept"
        );
        assert_eq!(
            loggable("/.wrnexus/api/v1/invitations/tok/decline"),
            "/.wrnexus/api/v1/invitations/…/decline"
        );
    }

    #[test]
    fn other_paths_are_kept() {
        for path in [
            "/app/items",
            "/.wrnexus/api/v1/workspaces/w1/invitations",
            "/.wrnexus/signin",
            "/invitations/abc",
        ] {
            assert_eq!(loggable(path), path);
        }
    }
}
