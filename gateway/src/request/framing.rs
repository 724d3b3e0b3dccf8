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
    #[error("the request's :authority and Host name different hosts, or Host is repeated")]
    ConflictingHost,
}

impl FramingError {
    /// The stable problem code.
    pub fn code(self) -> &'static str {
        match self {
            FramingError::LengthAndChunked | FramingError::ConflictingLengths => {
                "conflicting_framing"
            }
            FramingError::DuplicateAuthorization => "duplicate_authorization",
            FramingError::ConflictingHost => "conflicting_host",
        }
    }
}

/// How often `name` (lowercase) appears as a header name in a raw HTTP/1
/// header block (the request line skipped), in any case.
fn raw_count(raw: &[u8], name: &str) -> usize {
    raw.split(|b| *b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            line.get(..colon)
        })
        .filter(|found| found.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        .count()
}

/// Check a request; `raw` gives the HTTP/1 header block as received, if
/// any. It is read only when `Transfer-Encoding` is present, the one case
/// where pingora drops a header (`Content-Length`) from the parsed map;
/// every other repeated header (`Authorization` included) stays in the map.
pub fn check<R: AsRef<[u8]>>(
    headers: &HeaderMap,
    raw: impl FnOnce() -> Option<R>,
) -> Result<(), FramingError> {
    // One pass over the fields (a few comparisons each) rather than a
    // lookup per header of interest.
    let mut has_chunked = false;
    let mut first_length: Option<&[u8]> = None;
    let mut conflicting = false;
    let mut authorizations = 0;
    for (name, value) in headers {
        if *name == TRANSFER_ENCODING {
            has_chunked = true;
        } else if *name == CONTENT_LENGTH {
            for length in value
                .as_bytes()
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
            {
                match first_length {
                    None => first_length = Some(length),
                    Some(first) => conflicting |= first != length,
                }
            }
        } else if *name == AUTHORIZATION {
            authorizations += 1;
        }
    }
    let has_length = first_length.is_some()
        || (has_chunked && raw().is_some_and(|raw| raw_count(raw.as_ref(), "content-length") > 0));
    if has_length && has_chunked {
        return Err(FramingError::LengthAndChunked);
    }
    if conflicting {
        return Err(FramingError::ConflictingLengths);
    }
    if authorizations > 1 {
        return Err(FramingError::DuplicateAuthorization);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn no_raw() -> Option<&'static [u8]> {
        None
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn plain_requests_pass() {
        assert_eq!(check(&map(&[("content-length", "3")]), no_raw), Ok(()));
        assert_eq!(
            check(&map(&[("transfer-encoding", "chunked")]), no_raw),
            Ok(())
        );
        assert_eq!(
            check(
                &map(&[("content-length", "3"), ("content-length", "3")]),
                no_raw
            ),
            Ok(())
        );
        assert_eq!(
            check(&map(&[("authorization", "Bearer x")]), no_raw),
            Ok(())
        );
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(
            check(&map(&[("content-length", "3")]), || Some(raw)),
            Ok(())
        );
    }

    #[test]
    fn length_and_chunked_are_refused_even_after_pingora_dropped_one() {
        let both = map(&[("content-length", "3"), ("transfer-encoding", "chunked")]);
        assert_eq!(check(&both, no_raw), Err(FramingError::LengthAndChunked));
        // pingora removed Content-Length from the map; the raw bytes keep it.
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let after = map(&[("transfer-encoding", "chunked")]);
        assert_eq!(
            check(&after, || Some(raw)),
            Err(FramingError::LengthAndChunked)
        );
        assert_eq!(FramingError::LengthAndChunked.code(), "conflicting_framing");
    }

    #[test]
    fn differing_lengths_are_refused() {
        let h = map(&[("content-length", "3"), ("content-length", "4")]);
        assert_eq!(check(&h, no_raw), Err(FramingError::ConflictingLengths));
        let h = map(&[("content-length", "3, 5")]);
        assert_eq!(check(&h, no_raw), Err(FramingError::ConflictingLengths));
    }

    #[test]
    fn duplicate_authorization_is_refused() {
        let h = map(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(check(&h, no_raw), Err(FramingError::DuplicateAuthorization));
        assert_eq!(
            FramingError::DuplicateAuthorization.code(),
            "duplicate_authorization"
        );
    }
}
