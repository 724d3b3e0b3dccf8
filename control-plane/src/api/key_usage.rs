//! `POST /v1/internal/key-usage`: gateways report API key use — when each
//! key was last used, and the keys they refused — and when each session
//! they served was last seen, with the gateway token
//! (`WRNEXUS_GATEWAY_TOKEN`) as a Bearer. Without a token configured the
//! endpoint answers 404 `gateway_reports_disabled`. The body is checked
//! whole before anything is written: a bad entry is a 400 naming its field.

use super::AppState;
use super::bearer::{self, Guard};
use super::error::ApiError;
use super::responses as doc;
use crate::store::devices::SessionSeen;
use crate::store::key_usage::{
    GATEWAY_REFUSALS, KeyUsageApplied, KeyUsageReport, KeyUse, RefusedKeyUse,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value};
use std::net::IpAddr;
use wrnexus_contract::ProblemCode;

/// Most entries in each list of one report.
pub const MAX_ENTRIES: usize = 1000;
const MAX_REQUEST_ID: usize = 128;
const MAX_USER_AGENT: usize = 512;

fn check_gateway(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let guard = Guard {
        off: (
            ProblemCode::GatewayReportsDisabled,
            "gateway reports are off: set WRNEXUS_GATEWAY_TOKEN on the control plane and its gateways",
        ),
        wrong: (
            ProblemCode::InvalidGatewayToken,
            "a valid gateway token is required",
        ),
    };
    bearer::require(headers, state.config.gateway_token.as_deref(), guard)
}

/// Record API key use seen at a gateway.
#[utoipa::path(
    post,
    path = "/internal/key-usage",
    tag = "internal",
    operation_id = "report_key_usage",
    request_body = KeyUsageReport,
    security(("gateway" = [])),
    responses(
        (status = 200, description = "Applied", body = KeyUsageApplied),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<KeyUsageApplied>, ApiError> {
    check_gateway(&state, &headers)?;
    let report = parse(&body)?;
    Ok(Json(state.store.apply_key_usage(&report).await?))
}

/// The report in `body`, every field checked.
pub fn parse(body: &[u8]) -> Result<KeyUsageReport, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::field(
            ProblemCode::InvalidBody,
            "body",
            format!("the `body` is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(top) = value else {
        return Err(ApiError::field(
            ProblemCode::InvalidBody,
            "body",
            "the `body` must be a JSON object with `used`, `refused` and `sessions` lists",
        ));
    };
    if let Some(other) = top
        .keys()
        .find(|k| !["used", "refused", "sessions"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            ProblemCode::UnknownField,
            "body",
            format!("the `body` has an unknown field `{other}`"),
        ));
    }
    let used = list(&top, "used")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let e = Item::new(v, "used", i, &["key_id", "at"])?;
            Ok(KeyUse {
                key_id: e.key_id("used.key_id")?,
                at: e.time("used.at")?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let refused = list(&top, "refused")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let fields = ["key_id", "reason", "request_id", "ip", "user_agent", "at"];
            let e = Item::new(v, "refused", i, &fields)?;
            Ok(RefusedKeyUse {
                key_id: e.key_id("refused.key_id")?,
                reason: e.reason("refused.reason")?,
                request_id: e.text("refused.request_id", MAX_REQUEST_ID, false)?,
                ip: e.ip("refused.ip")?,
                user_agent: e.text("refused.user_agent", MAX_USER_AGENT, true)?,
                at: e.time("refused.at")?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let sessions = list(&top, "sessions")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let e = Item::new(v, "sessions", i, &["session_id", "at"])?;
            Ok(SessionSeen {
                session_id: e.session_id("sessions.session_id")?,
                at: e.time("sessions.at")?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(KeyUsageReport {
        used,
        refused,
        sessions,
    })
}

/// The list `name` (absent: empty), at most [`MAX_ENTRIES`] long.
fn list<'a>(top: &'a Map<String, Value>, name: &'static str) -> Result<&'a [Value], ApiError> {
    match top.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) if items.len() <= MAX_ENTRIES => Ok(items),
        Some(_) => Err(ApiError::field(
            ProblemCode::InvalidList,
            name,
            format!("`{name}` must be a list of at most {MAX_ENTRIES} entries"),
        )),
    }
}

/// One entry of a list, for checking its fields.
struct Item<'a> {
    fields: &'a Map<String, Value>,
    index: usize,
}

impl<'a> Item<'a> {
    fn new(
        value: &'a Value,
        list: &'static str,
        index: usize,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Value::Object(fields) = value else {
            return Err(ApiError::field(
                ProblemCode::InvalidList,
                list,
                format!("`{list}` entry {index} must be an object"),
            ));
        };
        if let Some(other) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::field(
                ProblemCode::UnknownField,
                list,
                format!("`{list}` entry {index} has an unknown field `{other}`"),
            ));
        }
        Ok(Item { fields, index })
    }

    fn bad(&self, code: ProblemCode, field: &'static str, rule: &str) -> ApiError {
        ApiError::field(
            code,
            field,
            format!("`{field}` (entry {}) {rule}", self.index),
        )
    }

    /// An optional string field.
    fn string(&self, field: &'static str) -> Result<Option<&'a str>, ApiError> {
        let name = field.rsplit('.').next().unwrap_or(field);
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(ProblemCode::InvalidField, field, "must be a string")),
        }
    }

    fn key_id(&self, field: &'static str) -> Result<String, ApiError> {
        match self.string(field)? {
            Some(id) if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(id.to_string())
            }
            Some(_) => Err(self.bad(ProblemCode::InvalidKeyId, field, "must be 16 hex digits")),
            None => Err(ApiError::missing(field)),
        }
    }

    /// A session id: a UUID as the control plane writes them.
    fn session_id(&self, field: &'static str) -> Result<String, ApiError> {
        match self.string(field)? {
            Some(id) if id.len() == 36 && uuid::Uuid::parse_str(id).is_ok() => Ok(id.to_string()),
            Some(_) => Err(self.bad(ProblemCode::InvalidField, field, "must be a session id")),
            None => Err(ApiError::missing(field)),
        }
    }

    fn time(&self, field: &'static str) -> Result<i64, ApiError> {
        let name = field.rsplit('.').next().unwrap_or(field);
        match self.fields.get(name).map(Value::as_i64) {
            Some(Some(t)) if t > 0 => Ok(t),
            Some(_) => Err(self.bad(
                ProblemCode::InvalidTime,
                field,
                "must be a positive whole number of Unix seconds",
            )),
            None => Err(ApiError::missing(field)),
        }
    }

    fn reason(&self, field: &'static str) -> Result<String, ApiError> {
        match self.string(field)? {
            Some(r) if GATEWAY_REFUSALS.contains(&r) => Ok(r.to_string()),
            Some(_) => Err(self.bad(
                ProblemCode::InvalidReason,
                field,
                &format!("must be one of {}", GATEWAY_REFUSALS.join(", ")),
            )),
            None => Err(ApiError::missing(field)),
        }
    }

    fn ip(&self, field: &'static str) -> Result<Option<String>, ApiError> {
        match self.string(field)? {
            Some(ip) => ip
                .parse::<IpAddr>()
                .map(|ip| Some(ip.to_string()))
                .map_err(|_| self.bad(ProblemCode::InvalidIp, field, "must be an IP address")),
            None => Ok(None),
        }
    }

    /// Optional printable ASCII of at most `max` bytes (spaces allowed
    /// when `spaces`).
    fn text(
        &self,
        field: &'static str,
        max: usize,
        spaces: bool,
    ) -> Result<Option<String>, ApiError> {
        match self.string(field)? {
            Some(t)
                if !t.is_empty()
                    && t.len() <= max
                    && t.chars()
                        .all(|c| c.is_ascii_graphic() || (spaces && c == ' ')) =>
            {
                Ok(Some(t.to_string()))
            }
            Some(_) => Err(self.bad(
                ProblemCode::InvalidField,
                field,
                &format!("must be printable ASCII of at most {max} characters"),
            )),
            None => Ok(None),
        }
    }
}
