//! `return_to` values: only a same-origin path may be redirected to.

/// Return `value` when it is a path on this origin, `/` otherwise.
///
/// Accepted: starts with `/`, not `//` or `/\`, no scheme, no backslash, no
/// control characters or whitespace (browsers strip tabs and newlines,
/// turning `/\t/evil` into `//evil`), every `%` a two-hex-digit escape,
/// and the same holds after decoding percent-escapes, however many times.
pub fn safe_return_to(value: &str) -> &str {
    if is_safe(value) { value } else { "/" }
}

fn is_safe(value: &str) -> bool {
    let mut current = value.to_string();
    for _ in 0..4 {
        if !is_safe_once(&current) {
            return false;
        }
        match percent_decode(&current) {
            Some(decoded) if decoded != current => current = decoded,
            Some(_) => return true,
            None => return false,
        }
    }
    false
}

fn is_safe_once(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/') | Some(b'\\'))
        && !value.contains('\\')
        && !value.chars().any(|c| c.is_control() || c.is_whitespace())
        && escapes_are_plain(bytes)
}

/// Every `%` starts a two-hex-digit escape. Lenient decoders read more
/// (Java's `URLDecoder` takes `%+a` for a newline, which a browser drops,
/// turning `/%+a/evil` into `//evil`), so anything else is refused.
fn escapes_are_plain(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).and_then(|&h| hex(h)).is_some()
                && bytes.get(i + 2).and_then(|&l| hex(l)).is_some())
    })
}

/// Percent-encode a value for a query string (keeps `/` readable).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode `%XX` escapes; `None` when the result is not UTF-8.
pub fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_plain_paths() {
        assert_eq!(safe_return_to("/w/abc/page?x=1#top"), "/w/abc/page?x=1#top");
        assert_eq!(safe_return_to("/"), "/");
    }

    #[test]
    fn refuses_other_origins() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/%2F%2Fevil.example",
            "/\t/evil.example",
            "/%+a/evil.example",
            "/%-a/x",
            "/100%",
            "/%2",
            "",
            "evil.example",
        ] {
            assert_eq!(safe_return_to(bad), "/", "{bad:?}");
        }
    }
}
