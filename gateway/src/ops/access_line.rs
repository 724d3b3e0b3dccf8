//! One access log line: flat JSON fields describing a finished request,
//! built from what the gateway decided, never from what could carry a
//! secret (no query string, cookie, `Authorization` or API key).

use crate::ops::access_notes::AccessNotes;
use crate::ops::loggable_path::loggable;
use crate::upstream::identity::Who;
use pingora::http::RequestHeader;
use serde::Serialize;
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most of a `User-Agent` a line keeps, in bytes.
pub const USER_AGENT_MAX: usize = 256;

/// The fields of one line, in order.
#[derive(Debug, Serialize)]
pub struct AccessLine<'a> {
    /// When the request arrived: RFC 3339, UTC, milliseconds.
    pub time: String,
    pub request_id: &'a str,
    pub trace_id: Option<&'a str>,
    pub route: Option<&'a str>,
    pub method: &'a str,
    /// The canonical path the gateway decided on, without its query (a
    /// secret it carries masked: [`loggable`]).
    pub path: Cow<'a, str>,
    /// `0`: no response was written (the client went away).
    pub status: u16,
    pub decision: &'static str,
    pub cause: Option<&'static str>,
    pub workspace_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub principal: &'static str,
    pub user_id: Option<&'a str>,
    pub api_key_id: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: f64,
    pub upstream_ms: Option<f64>,
    pub decision_us: Option<u64>,
}

/// What the line is made of, gathered in the `logging` phase.
#[derive(Debug)]
pub struct Finished<'a> {
    pub req: &'a RequestHeader,
    pub request_id: &'a str,
    pub trace_id: Option<&'a str>,
    pub route: Option<&'a str>,
    pub status: u16,
    pub decision: &'static str,
    pub notes: AccessNotes,
    /// The allowed identity's workspace, project and principal.
    pub identity: Option<(&'a str, Option<&'a str>, &'a Who)>,
    pub client_ip: Option<IpAddr>,
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// When the request arrived, and how long it took.
    pub arrived: SystemTime,
    pub took: Duration,
}

impl<'a> AccessLine<'a> {
    pub fn of(f: &Finished<'a>) -> Self {
        let (workspace_id, project_id, who) = match f.identity {
            Some((w, p, who)) => (Some(w), p, Some(who)),
            None => (None, None, None),
        };
        let (user_id, api_key_id) = match who {
            Some(Who::User(id)) => (Some(id.as_str()), None),
            Some(Who::ApiKey(id)) => (None, Some(id.as_str())),
            None => (None, None),
        };
        AccessLine {
            time: rfc3339_millis(f.arrived),
            request_id: f.request_id,
            trace_id: f.trace_id,
            route: f.route,
            method: f.req.method.as_str(),
            // `Uri::path` never includes the query.
            path: loggable(f.req.uri.path()),
            status: f.status,
            decision: f.decision,
            cause: f.notes.cause,
            workspace_id,
            project_id,
            principal: f.notes.credential.as_str(),
            user_id,
            api_key_id,
            client_ip: f.client_ip,
            user_agent: f
                .req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| truncate(ua, USER_AGENT_MAX)),
            bytes_in: f.bytes_in as u64,
            bytes_out: f.bytes_out as u64,
            duration_ms: millis(f.took),
            upstream_ms: f.notes.upstream_ms,
            decision_us: f.notes.decision_us,
        }
    }

    /// The line, newline-terminated.
    pub fn to_json_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// A duration in milliseconds, to the microsecond.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `2026-01-02T03:04:05.678Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm, proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[path = "access_line_tests.rs"]
mod tests;
