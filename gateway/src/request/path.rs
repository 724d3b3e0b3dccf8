//! Request paths understood once: the gateway turns the path into one
//! canonical spelling (RFC 3986 §6.2.2) that routes, action rules, the
//! workspace path, Cedar and the app all see, and refuses any spelling an
//! app could read as another path.
//!
//! Normalised (the same resource in every reading, §6.2.2.1–2):
//! percent-encoded unreserved characters (`%41` → `A`, `%2D` → `-`, `%7E`
//! → `~`) are decoded, and the hex digits of the escapes that stay are
//! upper-cased (`%c3%a9` → `%C3%A9`).
//!
//! Refused (frameworks disagree on their meaning): `.` and `..` segments
//! (also encoded), empty segments (`//`), an encoded `/` or `\`, a
//! backslash, `;` parameters (Tomcat and Spring drop them, others do
//! not; also `%3B`), segments ending in `.` or a space (IIS and ASP.NET
//! trim them), an encoded `%` (`%25`, read twice by apps that decode
//! twice), control characters, bytes outside ASCII, escapes that do not
//! decode to UTF-8 (overlong forms such as `%C0%AE`) or decode to a letter
//! whose case folding is ASCII (the Kelvin sign folds to `k`), malformed
//! escapes.
//!
//! Letter case is kept (apps may tell `/Docs` from `/docs`), and every
//! prefix the gateway matches (routes, action rules, the workspace path)
//! is compared without regard to ASCII case and also covers a format
//! suffix (`/admin.json` is under `/admin`), so a framework that ignores
//! case or routes by extension reads no route the gateway did not decide
//! on.

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("the path contains an encoded `/` or `\\`")]
    EncodedSeparator,
    #[error("the path contains a backslash")]
    Backslash,
    #[error("the path contains a `.` or `..` segment")]
    DotSegment,
    #[error("the path contains an empty segment (`//`)")]
    EmptySegment,
    #[error("the path contains a NUL or control character")]
    Control,
    #[error("the path contains a malformed percent-escape")]
    BadEscape,
    #[error("the path contains a `;` parameter")]
    Parameter,
    #[error("a path segment ends in `.` or a space")]
    TrailingDot,
    #[error("the path contains an encoded `%` (`%25`)")]
    EncodedPercent,
    #[error("the path contains a character outside ASCII; percent-encode it")]
    NotAscii,
    #[error("the path contains `{0}`, which must be percent-encoded")]
    Unencoded(char),
    #[error("the path's escapes do not decode to UTF-8")]
    NotUtf8,
    #[error("the path holds a letter whose case folding is an ASCII letter")]
    FoldsToAscii,
}

/// The one spelling of `path` (without query) every reader agrees on, or
/// why there is none. Borrowed when `path` already is that spelling.
pub fn canonical(path: &str) -> Result<Cow<'_, str>, PathError> {
    if plainly_fine(path.as_bytes()) {
        return Ok(Cow::Borrowed(path));
    }
    thorough(path)
}

/// Letters outside ASCII whose case folding is an ASCII letter: KELVIN
/// SIGN (k), LATIN SMALL LETTER LONG S (s), LATIN CAPITAL LETTER I WITH
/// DOT ABOVE and LATIN SMALL LETTER DOTLESS I (i in Turkish-aware folds).
const FOLDS_TO_ASCII: &[char] = &['\u{212A}', '\u{017F}', '\u{0130}', '\u{0131}'];

/// Accept only paths every backend reads the same way, already canonical
/// or not.
pub fn check(path: &str) -> Result<(), PathError> {
    canonical(path).map(|_| ())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A byte a path segment may hold as it is (RFC 3986 `pchar` less `%`
/// and `;`, which are handled on their own).
fn is_plain(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Every rule, escapes decoded.
fn thorough(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // The canonical spelling, and the bytes an app decodes it to (for the
    // UTF-8 check).
    let mut out = String::with_capacity(bytes.len());
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let pair = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
                let (Some(hi), Some(lo)) = (hex(pair[0]), hex(pair[1])) else {
                    return Err(PathError::BadEscape);
                };
                let v = hi << 4 | lo;
                match v {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    b'%' => return Err(PathError::EncodedPercent),
                    b';' => return Err(PathError::Parameter),
                    v if v < 0x20 || v == 0x7f => return Err(PathError::Control),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    _ => {
                        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
                        out.push('%');
                        out.push(char::from(DIGITS[usize::from(hi)]));
                        out.push(char::from(DIGITS[usize::from(lo)]));
                    }
                }
                decoded.push(v);
                i += 3;
                continue;
            }
            b'\\' => return Err(PathError::Backslash),
            b';' => return Err(PathError::Parameter),
            b if b < 0x20 || b == 0x7f => return Err(PathError::Control),
            b if !b.is_ascii() => return Err(PathError::NotAscii),
            b'/' => out.push('/'),
            b if is_plain(b) => out.push(char::from(b)),
            b => return Err(PathError::Unencoded(char::from(b))),
        }
        decoded.push(b);
        i += 1;
    }
    match std::str::from_utf8(&decoded) {
        Err(_) => return Err(PathError::NotUtf8),
        // Letters that Unicode case folding turns into ASCII ones (Java's
        // `equalsIgnoreCase` reads `K` for the Kelvin sign): a framework
        // ignoring case could route them as a prefix the gateway did not.
        Ok(text) if text.chars().any(|c| FOLDS_TO_ASCII.contains(&c)) => {
            return Err(PathError::FoldsToAscii);
        }
        Ok(_) => {}
    }
    let mut segments = out[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() {
            if last {
                break;
            }
            return Err(PathError::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(PathError::DotSegment);
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return Err(PathError::TrailingDot);
        }
    }
    if out == path {
        Ok(Cow::Borrowed(path))
    } else {
        Ok(Cow::Owned(out))
    }
}

/// The common case in one pass: absolute, only bytes a segment holds as
/// they are (no escape, backslash or `;`), no empty segment but the last,
/// no segment that is or ends in a dot. `false` says only that the full check must look.
fn plainly_fine(path: &[u8]) -> bool {
    let Some((b'/', rest)) = path.split_first() else {
        return false;
    };
    let mut len = 0;
    let mut last = 0u8;
    for &b in rest {
        match b {
            b'/' => {
                if len == 0 || last == b'.' {
                    return false;
                }
                len = 0;
            }
            b if is_plain(b) => len += 1,
            _ => return false,
        }
        last = b;
    }
    len == 0 || last != b'.'
}

/// Whether `path` lies under `prefix`, ASCII case ignored, on a boundary
/// a framework could route on: the prefix is followed by `/`, the end, or
/// a `.` (Rails and Spring route `/admin.json` to `/admin`). A prefix
/// ending in `/` also covers the path without it (`/admin/` covers
/// `/admin`).
pub fn under(path: &str, prefix: &str) -> bool {
    let (p, x) = (path.as_bytes(), prefix.as_bytes());
    if let Some(bare) = x.strip_suffix(b"/")
        && !bare.is_empty()
        && p.eq_ignore_ascii_case(bare)
    {
        return true;
    }
    if p.len() >= x.len() && p[..x.len()].eq_ignore_ascii_case(x) {
        return x.last() == Some(&b'/') || matches!(p.get(x.len()), None | Some(b'/' | b'.'));
    }
    false
}

/// `path` after `prefix` (ASCII case ignored), if it starts with it.
pub fn strip_prefix<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let n = prefix.len();
    (path.len() >= n && path.as_bytes()[..n].eq_ignore_ascii_case(prefix.as_bytes()))
        .then(|| path.get(n..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_unchanged() {
        for ok in [
            "/",
            "/a/b",
            "/a/b/",
            "/w/123/items",
            "/a.b/c..d",
            "/.well-known/x",
        ] {
            assert_eq!(canonical(ok), Ok(Cow::Borrowed(ok)), "{ok}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        let cases = [
            ("/%61dmin", "/admin"),
            ("/%41%2d%2E%5F%7e", "/A-._~"),
            ("/files/report%20q3.pdf", "/files/report%20q3.pdf"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/%77/abc/x", "/w/abc/x"),
            ("/a%3fb", "/a%3Fb"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn the_one_pass_check_never_accepts_what_the_thorough_one_refuses() {
        // Every path of up to 6 characters over the characters that matter.
        let alphabet = ['/', '.', 'a', '%', '2', 'f', '\\', ';', ' ', '\u{1}'];
        let mut paths = vec![String::new()];
        let mut accepted = 0;
        for _ in 0..6 {
            let mut longer = Vec::new();
            for p in &paths {
                for c in alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    if plainly_fine(q.as_bytes()) {
                        accepted += 1;
                        assert_eq!(thorough(&q), Ok(Cow::Borrowed(q.as_str())), "{q:?}");
                    }
                    assert_eq!(canonical(&q), thorough(&q), "{q:?}");
                    longer.push(q);
                }
            }
            paths = longer;
        }
        assert!(accepted > 1000, "{accepted}");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let cases = [
            ("/a%2Fb", PathError::EncodedSeparator),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a%5cb", PathError::EncodedSeparator),
            ("/a\\b", PathError::Backslash),
            ("/a/../b", PathError::DotSegment),
            ("/a/%2e%2E/b", PathError::DotSegment),
            ("/a/%2e/b", PathError::DotSegment),
            ("/a/./b", PathError::DotSegment),
            ("/a//b", PathError::EmptySegment),
            ("/a%00b", PathError::Control),
            ("/a%zz", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("/admin;x=1/y", PathError::Parameter),
            ("/admin%3b/y", PathError::Parameter),
            ("/admin./y", PathError::TrailingDot),
            ("/admin%2e/y", PathError::TrailingDot),
            ("/admin%20/y", PathError::TrailingDot),
            ("/a%252e%252e/b", PathError::EncodedPercent),
            ("/caf\u{e9}", PathError::NotAscii),
            ("/a%c0%ae/b", PathError::NotUtf8),
            ("/api/%E2%84%AAeys", PathError::FoldsToAscii),
            ("/%C5%BFecret", PathError::FoldsToAscii),
            ("a/b", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("/a b", PathError::Unencoded(' ')),
            ("/a\"b", PathError::Unencoded('"')),
            ("/a{b}", PathError::Unencoded('{')),
            ("/a#b", PathError::Unencoded('#')),
        ];
        for (path, want) in cases {
            assert_eq!(canonical(path), Err(want), "{path}");
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries_whatever_the_case() {
        assert!(under("/admin", "/admin"));
        assert!(under("/Admin/x", "/admin"));
        assert!(under("/ADMIN/", "/admin"));
        assert!(!under("/administrator", "/admin"));
        assert!(under("/admin.json", "/admin"));
        assert!(under("/Admin.JSON/x", "/admin"));
        assert!(under("/admin", "/admin/"));
        assert!(!under("/adminx", "/admin/"));
        assert!(under("/w/abc", "/w/"));
        assert!(under("/W/abc", "/w/"));
        assert!(!under("/wx", "/w/"));
        assert!(under("/anything", "/"));
        assert_eq!(strip_prefix("/W/abc", "/w/"), Some("abc"));
        assert_eq!(strip_prefix("/x/abc", "/w/"), None);
    }
}
