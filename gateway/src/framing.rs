//! Framing checks at the start of the request path: a request whose length
//! or credentials two parsers could read differently is refused with 400.
//!
//! pingora itself already refuses (with a plain 400, before any filter)
//! differing `Content-Length` values, non-chunked final `Transfer-Encoding`
//! and `Transfer-Encoding` on HTTP/1.0. When both `Content-Length` and
//! `Transfer-Encoding` are present it drops `Content-Length` and carries on,
//! so that case is found in the raw header bytes.

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, TRANSFER_ENCODING};

/// Why a request's framing is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("the request has both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    #[error("the request has several differing Content-Length values")]
    ConflictingLengths,
    #[error("the request has more than one Authorization header")]
    DuplicateAuthorization,
}

impl FramingError {
    /// The stable problem code.
    pub fn code(self) -> &'static str {
        match self {
            FramingError::LengthAndChunked | FramingError::ConflictingLengths => {
                "conflicting_framing"
            }
            FramingError::DuplicateAuthorization => "duplicate_authorization",
        }
    }
}

/// How often each of `names` (lowercase) appears as a header name in a raw
/// HTTP/1 header block (the request line skipped), in any case.
fn raw_counts<const N: usize>(raw: &[u8], names: [&str; N]) -> [usize; N] {
    let mut counts = [0; N];
    for line in raw.split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii();
        for (count, wanted) in counts.iter_mut().zip(names) {
            if name.eq_ignore_ascii_case(wanted.as_bytes()) {
                *count += 1;
            }
        }
    }
    counts
}

/// Check a request; `raw` is the HTTP/1 header block as received, if any.
pub fn check(headers: &HeaderMap, raw: Option<&[u8]>) -> Result<(), FramingError> {
    let [raw_length, raw_chunked, raw_authorization] = raw.map_or([0; 3], |raw| {
        raw_counts(
            raw,
            ["content-length", "transfer-encoding", "authorization"],
        )
    });
    let has_length = headers.contains_key(CONTENT_LENGTH) || raw_length > 0;
    let has_chunked = headers.contains_key(TRANSFER_ENCODING) || raw_chunked > 0;
    if has_length && has_chunked {
        return Err(FramingError::LengthAndChunked);
    }
    let mut lengths = headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|v| v.trim_ascii());
    if let Some(first) = lengths.next()
        && lengths.any(|v| v != first)
    {
        return Err(FramingError::ConflictingLengths);
    }
    let authorizations = headers
        .get_all(AUTHORIZATION)
        .iter()
        .count()
        .max(raw_authorization);
    if authorizations > 1 {
        return Err(FramingError::DuplicateAuthorization);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn plain_requests_pass() {
        assert_eq!(check(&map(&[("content-length", "3")]), None), Ok(()));
        assert_eq!(
            check(&map(&[("transfer-encoding", "chunked")]), None),
            Ok(())
        );
        assert_eq!(
            check(
                &map(&[("content-length", "3"), ("content-length", "3")]),
                None
            ),
            Ok(())
        );
        assert_eq!(check(&map(&[("authorization", "Bearer x")]), None), Ok(()));
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(check(&map(&[("content-length", "3")]), Some(raw)), Ok(()));
    }

    #[test]
    fn length_and_chunked_are_refused_even_after_pingora_dropped_one() {
        let both = map(&[("content-length", "3"), ("transfer-encoding", "chunked")]);
        assert_eq!(check(&both, None), Err(FramingError::LengthAndChunked));
        // pingora removed Content-Length from the map; the raw bytes keep it.
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let after = map(&[("transfer-encoding", "chunked")]);
        assert_eq!(
            check(&after, Some(raw)),
            Err(FramingError::LengthAndChunked)
        );
        assert_eq!(FramingError::LengthAndChunked.code(), "conflicting_framing");
    }

    #[test]
    fn differing_lengths_are_refused() {
        let h = map(&[("content-length", "3"), ("content-length", "4")]);
        assert_eq!(check(&h, None), Err(FramingError::ConflictingLengths));
        let h = map(&[("content-length", "3, 5")]);
        assert_eq!(check(&h, None), Err(FramingError::ConflictingLengths));
    }

    #[test]
    fn duplicate_authorization_is_refused() {
        let h = map(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(check(&h, None), Err(FramingError::DuplicateAuthorization));
        assert_eq!(
            FramingError::DuplicateAuthorization.code(),
            "duplicate_authorization"
        );
    }
}
