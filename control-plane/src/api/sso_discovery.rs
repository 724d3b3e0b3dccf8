//! Home-realm discovery: an email at a domain a workspace has verified, and
//! whose single sign-on connection is on, signs in through that workspace's
//! provider. The sign-in form sent without a password goes there (303);
//! `GET /.wrnexus/sso/discover?email=` tells the sign-in page's script the
//! same, and `/.wrnexus/sso/signin.js` is that script.

use super::AppState;
use super::error::ApiError;
use crate::sso::domain_name::email_domain;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use wrnexus_policies::redirect::{encode_query_value, safe_return_to};

/// The sign-in page's script (`control-plane/assets/signin-sso.js`).
pub const SIGNIN_JS: &str = include_str!("../../assets/signin-sso.js");

/// Where someone with `email` starts signing in through their domain's
/// workspace, coming back to `return_to`; `None` when no workspace with an
/// enabled connection has verified the domain.
pub async fn start_url(
    state: &AppState,
    email: &str,
    return_to: &str,
) -> Result<Option<String>, ApiError> {
    let Some(domain) = email_domain(email) else {
        return Ok(None);
    };
    let Some(workspace_id) = state.store.sso_workspace_for_domain(&domain).await? else {
        return Ok(None);
    };
    Ok(Some(format!(
        "/.wrnexus/sso/start?workspace_id={}&return_to={}&login_hint={}",
        encode_query_value(&workspace_id),
        encode_query_value(safe_return_to(return_to)),
        encode_query_value(email.trim()),
    )))
}

#[derive(Debug, Deserialize)]
pub struct DiscoverQuery {
    email: Option<String>,
    return_to: Option<String>,
}

/// `{ "sso": true, "start_url": ".." }` or `{ "sso": false }`.
#[derive(Debug, Serialize)]
pub struct Discovered {
    pub sso: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_url: Option<String>,
}

/// `GET /.wrnexus/sso/discover?email=..&return_to=..`.
pub async fn discover(
    State(state): State<AppState>,
    Query(q): Query<DiscoverQuery>,
) -> Result<Response, ApiError> {
    let email = q.email.unwrap_or_default().trim().to_lowercase();
    let return_to = q.return_to.unwrap_or_else(|| "/".to_string());
    let start_url = start_url(&state, &email, &return_to).await?;
    let mut response = Json(Discovered {
        sso: start_url.is_some(),
        start_url,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /.wrnexus/sso/signin.js`: the sign-in page's home-realm discovery.
pub async fn signin_script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300, must-revalidate"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        SIGNIN_JS,
    )
        .into_response()
}
