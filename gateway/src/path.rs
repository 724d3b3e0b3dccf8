//! Request paths: the path decided on is the path forwarded, so any path a
//! backend could read differently from the gateway is refused.

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
}

/// Accept only paths every backend reads the same way.
pub fn check(path: &str) -> Result<(), PathError> {
    if plainly_fine(path.as_bytes()) {
        return Ok(());
    }
    thorough(path)
}

/// Every rule, escapes decoded.
fn thorough(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    let control = |b: &u8| *b < 0x20 || *b == 0x7f;
    let escaped = path.contains('%');
    if escaped {
        if decode(path)?.iter().any(control) {
            return Err(PathError::Control);
        }
    } else if path.as_bytes().iter().any(control) {
        return Err(PathError::Control);
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if escaped && segment.contains('%') {
            let has = |needle: &[u8]| {
                segment
                    .as_bytes()
                    .windows(3)
                    .any(|w| w.eq_ignore_ascii_case(needle))
            };
            if has(b"%2f") || has(b"%5c") {
                return Err(PathError::EncodedSeparator);
            }
        }
        if segment.is_empty() && !last {
            return Err(PathError::EmptySegment);
        }
        let dots = |plain: &[u8]| plain == b"." || plain == b"..";
        let dot_segment = if escaped && segment.contains('%') {
            dots(&decode(segment)?)
        } else {
            dots(segment.as_bytes())
        };
        if dot_segment {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

/// The common case in one pass: absolute, no escape, backslash or control
/// character, no empty segment but the last, no dot segment. `false` says
/// only that the full check must look.
fn plainly_fine(path: &[u8]) -> bool {
    let Some((b'/', rest)) = path.split_first() else {
        return false;
    };
    let dot_segment = |len: usize, dots: usize| len > 0 && len <= 2 && dots == len;
    let (mut len, mut dots) = (0, 0);
    for &b in rest {
        match b {
            b'/' => {
                if len == 0 || dot_segment(len, dots) {
                    return false;
                }
                (len, dots) = (0, 0);
            }
            b'%' | b'\\' => return false,
            b if b < 0x20 || b == 0x7f => return false,
            b'.' => (len, dots) = (len + 1, dots + 1),
            _ => len += 1,
        }
    }
    !dot_segment(len, dots)
}

fn decode(text: &str) -> Result<Vec<u8>, PathError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass() {
        for ok in [
            "/",
            "/a/b",
            "/a/b/",
            "/files/report%20q3.pdf",
            "/w/123/items?x=1",
            "/a.b/c..d",
        ] {
            assert_eq!(check(ok.split('?').next().unwrap_or(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn the_one_pass_check_never_accepts_what_the_thorough_one_refuses() {
        // Every path of up to 6 characters over the characters that matter.
        let alphabet = ['/', '.', 'a', '%', '2', 'f', '\\', '\u{1}'];
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
                        assert_eq!(thorough(&q), Ok(()), "{q:?}");
                    }
                    assert_eq!(check(&q), thorough(&q), "{q:?}");
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
            ("/a/./b", PathError::DotSegment),
            ("/a//b", PathError::EmptySegment),
            ("/a%00b", PathError::Control),
            ("/a%zz", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
        ];
        for (path, want) in cases {
            assert_eq!(check(path), Err(want), "{path}");
        }
    }
}
