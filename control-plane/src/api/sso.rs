//! The browser's side of single sign-on: `GET /.wrnexus/sso/start` sends a
//! person to a provider (a workspace's own connection, or an instance-wide
//! provider), `GET /.wrnexus/sso/callback` takes them back and signs them
//! in; providers' back-channel logouts arrive at
//! `POST /.wrnexus/sso/backchannel-logout/…`.

use super::AppState;
use super::auth::open_session;
use super::error::ApiError;
use super::input::Input;
use super::meta::RequestMeta;
use super::pages::{self, Page};
use super::sso_flow::{self as flow, Door, failed};
use super::sso_logout::{LogoutFailed, back_channel_logout};
use crate::store::audit::Meta;
use crate::store::sessions::{IdpSession, SignedInWith};
use crate::store::sso_identities::ProviderIdentity;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::json;
use wrnexus_policies::claims::{AMR_OIDC, AMR_SSO};
use wrnexus_policies::redirect::safe_return_to;

/// The cookie holding a sign-in's `state` while the person is away.
fn state_cookie_name(state: &AppState) -> &'static str {
    if state.config.cookie_secure {
        "__Host-wrnexus_sso"
    } else {
        "wrnexus_sso"
    }
}

fn state_cookie(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let cookie = Cookie::build((state_cookie_name(state), value.to_string()))
        .path("/")
        .secure(state.config.cookie_secure)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).map_err(|_| ApiError::internal())
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// `GET /.wrnexus/sso/start` query.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    workspace_id: Option<String>,
    provider: Option<String>,
    return_to: Option<String>,
    login_hint: Option<String>,
}

/// Send the browser to `door`'s provider: the attempt kept, the state in
/// its cookie, a 303 to the authorization URL.
async fn redirect_to(
    state: &AppState,
    door: &Door,
    return_to: &str,
    login_hint: Option<&str>,
) -> Result<Response, ApiError> {
    let started = flow::start(state, door, return_to, login_hint).await?;
    let mut response = Redirect::to(&started.authorize_url).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state_cookie(state, &started.state, flow::ATTEMPT_TTL_SECS)?,
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Sign in through workspace `workspace_id`'s own connection (also for
/// home-realm discovery): a 303 to its provider.
pub async fn start_for_workspace(
    state: &AppState,
    workspace_id: &str,
    return_to: &str,
    login_hint: Option<&str>,
) -> Result<Response, ApiError> {
    let connection = state
        .store
        .sso_connection(workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("single sign-on connection"))?;
    let door = flow::workspace_door(state, connection)?;
    redirect_to(state, &door, return_to, login_hint).await
}

/// `GET /.wrnexus/sso/start?workspace_id=W|provider=NAME&return_to=/path`.
pub async fn start(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let return_to = q.return_to.as_deref().unwrap_or("/");
    // Another site must not start a sign-in in this browser (it would sign
    // the browser into an account of that site's choosing): browsers say
    // where a navigation comes from; this origin's pages and typed
    // addresses start one, nothing else.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            wrnexus_contract::ProblemCode::CsrfRejected,
            "a sign-in through an identity provider starts from this site's own pages",
        )
        .into_response();
    }
    if let Err(e) = state.limits.sso_start(meta.ip.as_deref()).await {
        return e.into_response();
    }
    let result = match (q.workspace_id.as_deref(), q.provider.as_deref()) {
        (Some(w), None) => start_for_workspace(&state, w, return_to, q.login_hint.as_deref()).await,
        (None, Some(name)) => match flow::instance_door(&state, name) {
            Ok(door) => redirect_to(&state, &door, return_to, q.login_hint.as_deref()).await,
            Err(e) => Err(e),
        },
        (None, None) => Err(ApiError::missing("workspace_id")),
        (Some(_), Some(_)) => Err(ApiError::field(
            wrnexus_contract::ProblemCode::InvalidField,
            "provider",
            "give `workspace_id` or `provider`, not both",
        )),
    };
    result.unwrap_or_else(|e| signin_page_with(&state, return_to, &e))
}

/// The sign-in page saying what went wrong (for the browser's routes).
fn signin_page_with(state: &AppState, return_to: &str, e: &ApiError) -> Response {
    if e.status.is_server_error() && e.status != StatusCode::BAD_GATEWAY {
        return e.clone().into_response();
    }
    pages::render(
        &state.config.pages,
        Page::SignIn,
        e.status,
        safe_return_to(return_to),
        "",
        Some(e),
    )
}

/// `GET /.wrnexus/sso/callback` query.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// What the provider's error code means for a person.
fn provider_error(code: &str, description: Option<&str>) -> ApiError {
    let reason = match code {
        "access_denied" => "the sign-in was cancelled or refused at the identity provider",
        "login_required" | "interaction_required" => {
            "the identity provider needs you to sign in there first"
        }
        "temporarily_unavailable" | "server_error" => {
            "the identity provider is unavailable; try again in a moment"
        }
        _ => "the identity provider could not sign you in",
    };
    let printable = description
        .filter(|d| d.len() <= 200 && d.chars().all(|c| !c.is_control()))
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    failed(format!("{reason}{printable}"))
}

/// `GET /.wrnexus/sso/callback?code=..&state=..`: the state must match the
/// cookie and a live attempt (spent now), the code is exchanged, the ID
/// token verified, the person linked and signed in.
pub async fn callback(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let cookie = cookie_value(&headers, state_cookie_name(&state));
    let mut return_to = "/".to_string();
    let result = async {
        let given = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| failed("the sign-in came back without its state; sign in again"))?;
        let matches = cookie
            .as_deref()
            .is_some_and(|c| subtle::ConstantTimeEq::ct_eq(c.as_bytes(), given.as_bytes()).into());
        if !matches {
            return Err(failed(
                "the sign-in did not start in this browser, or took too long; sign in again",
            ));
        }
        let attempt = state
            .store
            .take_sso_attempt(&flow::state_hash(given))
            .await?
            .ok_or_else(|| failed("the sign-in was used already or expired; sign in again"))?;
        return_to = attempt.return_to.clone();
        if let Some(code) = q.error.as_deref() {
            return Err(provider_error(code, q.error_description.as_deref()));
        }
        let code = q
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| failed("the identity provider sent no code"))?;
        let door = flow::door_by_key(&state, &attempt.provider).await?;
        let verified = flow::finish(&state, &door, &attempt, code).await?;
        sign_in(&state, &door, verified, &meta, &attempt.return_to).await
    }
    .await;
    let mut response = result.unwrap_or_else(|e| signin_page_with(&state, &return_to, &e));
    if let Ok(clear) = state_cookie(&state, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// Link the verified person and open their session.
async fn sign_in(
    state: &AppState,
    door: &Door,
    verified: flow::Verified,
    meta: &Meta,
    return_to: &str,
) -> Result<Response, ApiError> {
    let who = ProviderIdentity {
        issuer: verified.issuer.clone(),
        subject: verified.subject.clone(),
        email: verified.email.clone(),
        email_verified: verified.email_verified,
    };
    let linked = state.store.sso_link(&who, door.connection(), meta).await?;
    let user = linked.user;
    if user.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            wrnexus_contract::ProblemCode::UserDisabled,
            "this account is disabled",
        ));
    }
    let (workspace_id, amr, sso_workspace_id) = match door.connection() {
        Some(c) => (
            c.workspace_id.clone(),
            AMR_SSO,
            Some(c.workspace_id.clone()),
        ),
        None => (state.store.landing_workspace(&user).await?, AMR_OIDC, None),
    };
    let how = SignedInWith {
        amr: vec![amr.to_string()],
        // Never later than now: a provider's clock (or one an owner runs)
        // cannot make a session look younger than it is.
        auth_time: verified
            .auth_time
            .map_or_else(crate::store::now, |t| t.min(crate::store::now())),
        sso_workspace_id,
        idp: Some(IdpSession {
            issuer: verified.issuer,
            subject: verified.subject,
            sid: verified.sid,
        }),
    };
    let session = state
        .store
        .sign_in_with(
            &user.id,
            &workspace_id,
            state.config.session_ttl_secs,
            meta,
            &how,
        )
        .await?;
    tracing::info!(
        user_id = %user.id,
        workspace_id = %workspace_id,
        provider = %door.key(),
        created = linked.created,
        joined = linked.joined.is_some(),
        "signed in through an identity provider"
    );
    open_session(
        state,
        &user,
        &workspace_id,
        session,
        true,
        return_to,
        StatusCode::OK,
    )
    .await
}

/// The back-channel logout form body.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    logout_token: Option<String>,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn logout_error(status: StatusCode, error: &str, description: String) -> Response {
    no_store(
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response(),
    )
}

async fn logout_at(
    state: &AppState,
    door: Result<Door, ApiError>,
    form: LogoutForm,
    meta: &Meta,
) -> Response {
    let door = match door {
        Ok(door) => door,
        Err(e) => return logout_error(e.status, "invalid_request", e.detail),
    };
    let Some(token) = form.logout_token.filter(|t| !t.is_empty()) else {
        return logout_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`logout_token` is required".to_string(),
        );
    };
    match back_channel_logout(state, &door, &token, meta).await {
        Ok(ended) => {
            tracing::info!(provider = %door.key(), ended, "back-channel logout");
            no_store(StatusCode::OK.into_response())
        }
        Err(LogoutFailed::Token(e)) => {
            tracing::info!(provider = %door.key(), error = %e, "logout token refused");
            logout_error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
        }
        Err(LogoutFailed::Server(e)) => {
            tracing::warn!(provider = %door.key(), error = %e, "back-channel logout failed");
            logout_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the logout could not be done now".to_string(),
            )
        }
    }
}

/// `POST /.wrnexus/sso/backchannel-logout/{connection_id}`.
pub async fn logout_connection(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    Path(connection_id): Path<String>,
    input: Input<LogoutForm>,
) -> Response {
    let door = match state.store.sso_connection_by_id(&connection_id).await {
        // Logouts still end sessions of a connection switched off since.
        Ok(Some(connection)) => Ok(Door::Workspace {
            connection: Box::new(connection),
            client_secret: String::new(),
        }),
        Ok(None) => Err(ApiError::not_found("connection")),
        Err(e) => Err(e.into()),
    };
    logout_at(&state, door, input.value, &meta).await
}

/// `POST /.wrnexus/sso/backchannel-logout/instance/{name}`.
pub async fn logout_instance(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    Path(name): Path<String>,
    input: Input<LogoutForm>,
) -> Response {
    let door = flow::instance_door(&state, &name);
    logout_at(&state, door, input.value, &meta).await
}
