//! Sign-up, sign-in, sign-out and whoami: the browser-facing identity routes.

mod bodies;

use super::AppState;
use super::actor::{Actor, session_token};
use super::error::ApiError;
use super::input::Input;
use super::meta::RequestMeta;
use super::pages::{self, Page};
use crate::password;
use crate::store::accounts::User;
use crate::store::audit::{ActorKind, AuditRecord, Meta, Outcome};
use crate::store::now;
use crate::store::sessions::Session;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bodies::{LandedIn, Membership, SessionRef, SignedIn, Switched, SwitchedTo, UserRef, WhoAmI};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use std::sync::OnceLock;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::SessionClaims;
use wrnexus_policies::redirect::safe_return_to;

/// Sign-up and sign-in bodies (JSON or form).
#[derive(Debug, Deserialize)]
pub struct Credentials {
    email: Option<String>,
    password: Option<String>,
    return_to: Option<String>,
}

/// The pages' query: where to go afterwards, and an email to fill in.
#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
    email: Option<String>,
}

/// Normalise and check an email address (`invalid_email` naming `email`).
pub fn normalise_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let invalid = || {
        ApiError::field(
            ProblemCode::InvalidEmail,
            "email",
            "`email` must be an email address like name@example.com",
        )
    };
    if email.len() < 3
        || email.len() > 254
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@') =>
        {
            Ok(email)
        }
        _ => Err(invalid()),
    }
}

fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing(field))
}

/// The `Set-Cookie` value carrying a session token.
pub(super) fn session_cookie(
    state: &AppState,
    token: String,
    max_age: i64,
) -> Result<HeaderValue, ApiError> {
    let cookie = Cookie::build((state.config.cookie_name.clone(), token))
        .path("/")
        .secure(state.config.cookie_secure)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).map_err(|_| ApiError::internal())
}

/// Hand a new session in `workspace_id` to the client: JSON, or a 303 for forms.
pub(crate) async fn open_session(
    state: &AppState,
    user: &User,
    workspace_id: &str,
    session: Session,
    form: bool,
    return_to: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let ttl = state.config.session_ttl_secs;
    let claims = SessionClaims {
        iss: state.keys.issuer().to_string(),
        aud: state.keys.audience().to_string(),
        sub: user.id.clone(),
        wid: workspace_id.to_string(),
        sid: session.id.clone(),
        iat: now(),
        exp: session.expires_at,
        amr: session.signed_in.amr.clone(),
        auth_time: session.signed_in.auth_time,
        sso_wid: session.signed_in.sso_workspace_id.clone(),
    };
    let token = state.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing a session token failed");
        ApiError::internal()
    })?;
    let cookie = session_cookie(state, token, ttl)?;
    let mut response = if form {
        Redirect::to(safe_return_to(return_to)).into_response()
    } else {
        let workspace = state.store.workspace(workspace_id).await?;
        let role = state.store.role_of(workspace_id, &user.id).await?;
        (
            status,
            Json(SignedIn {
                user: UserRef {
                    id: &user.id,
                    email: &user.email,
                },
                workspace: LandedIn {
                    id: workspace_id,
                    name: workspace.map(|w| w.name),
                    role,
                },
                session: SessionRef {
                    id: &session.id,
                    expires_at: session.expires_at,
                },
            }),
        )
            .into_response()
    };
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// A form error re-renders the page; a JSON error is problem+json.
fn fail(
    state: &AppState,
    page: Page,
    form: bool,
    return_to: &str,
    email: &str,
    e: ApiError,
) -> Response {
    if form {
        let return_to = safe_return_to(return_to);
        pages::render(
            &state.config.pages,
            page,
            e.status,
            return_to,
            email,
            Some(&e),
        )
    } else {
        e.into_response()
    }
}

pub async fn signup_page(State(state): State<AppState>, Query(q): Query<ReturnTo>) -> Response {
    let return_to = q.return_to.unwrap_or_else(|| "/".to_string());
    pages::render(
        &state.config.pages,
        Page::SignUp,
        StatusCode::OK,
        safe_return_to(&return_to),
        q.email.as_deref().unwrap_or_default(),
        None,
    )
}

pub async fn signin_page(State(state): State<AppState>, Query(q): Query<ReturnTo>) -> Response {
    let return_to = q.return_to.unwrap_or_else(|| "/".to_string());
    pages::render(
        &state.config.pages,
        Page::SignIn,
        StatusCode::OK,
        safe_return_to(&return_to),
        q.email.as_deref().unwrap_or_default(),
        None,
    )
}

pub async fn signup(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    input: Input<Credentials>,
) -> Response {
    let form = input.form;
    let Credentials {
        email,
        password,
        return_to,
    } = input.value;
    let return_to = return_to.unwrap_or_else(|| "/".to_string());
    let shown_email = email.clone().unwrap_or_default();
    let result = async {
        let email = normalise_email(&required(email, "email")?)?;
        let password = required(password, "password")?;
        password::check(&password).map_err(|e| ApiError::field(ProblemCode::WeakPassword, "password", e.to_string()))?;
        let hash = tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|_| ApiError::internal())?;
        let signed_up = state
            .store
            .sign_up_verifying(&email, &hash, &state.config, &meta)
            .await?;
        tracing::info!(user_id = %signed_up.user.id, workspace_id = %signed_up.workspace_id, "signed up");
        let session = state.store.start_session(&signed_up.user.id, state.config.session_ttl_secs, &meta).await?;
        open_session(&state, &signed_up.user, &signed_up.workspace_id, session, form, &return_to, StatusCode::CREATED).await
    }
    .await;
    result.unwrap_or_else(|e| fail(&state, Page::SignUp, form, &return_to, &shown_email, e))
}

fn count_signin(outcome: &str) {
    if let Some(m) = crate::metrics::metrics() {
        m.signins.with_label_values(&[outcome]).inc();
    }
}

/// Record a refused sign-in: in the person's personal workspace when the
/// email is known (so its owner sees the attempts), else in no workspace.
async fn audit_signin(
    state: &AppState,
    meta: &Meta,
    user: Option<&User>,
    outcome: Outcome,
) -> Result<(), ApiError> {
    let personal = match user {
        Some(u) => Some(state.store.landing_workspace(u).await?),
        None => None,
    };
    let meta = match user {
        Some(u) => meta.with_actor(ActorKind::User, &u.id),
        None => meta.with_actor(ActorKind::Anonymous, ""),
    };
    state
        .store
        .audit_only(
            &meta,
            AuditRecord {
                workspace_id: personal.as_deref(),
                action: "signin",
                target: user.map(|u| u.id.as_str()),
                outcome,
                detail: None,
            },
        )
        .await?;
    Ok(())
}

/// A hash to verify against when the email is unknown, so both cases cost the same.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| password::hash("decoy password for unknown users").unwrap_or_default())
}

pub async fn signin(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    input: Input<Credentials>,
) -> Response {
    let form = input.form;
    let Credentials {
        email,
        password,
        return_to,
    } = input.value;
    let return_to = return_to.unwrap_or_else(|| "/".to_string());
    let shown_email = email.clone().unwrap_or_default();
    let result = async {
        let email = normalise_email(&required(email, "email")?)?;
        // No password: an email at a domain a workspace signs in through
        // its own provider goes there (home-realm discovery).
        if password.as_deref().is_none_or(str::is_empty)
            && let Some(url) = super::sso_discovery::start_url(&state, &email, &return_to).await?
        {
            return Ok(Redirect::to(&url).into_response());
        }
        let password = required(password, "password")?;
        state
            .limits
            .signin(&email, meta.ip.as_deref())
            .await
            .inspect_err(|_| count_signin("rate_limited"))?;
        let user = state.store.user_by_email(&email).await?;
        let phc = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_string(), |u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || password::verify(&password, &phc))
            .await
            .map_err(|_| ApiError::internal())?;
        let user = match user {
            Some(u) if matches && !u.disabled => u,
            _ => {
                tracing::info!("sign-in refused");
                count_signin("failure");
                audit_signin(&state, &meta, user.as_ref(), Outcome::Failure).await?;
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ProblemCode::InvalidCredentials,
                    "the email or password is wrong",
                ));
            }
        };
        let workspace_id = state.store.landing_workspace(&user).await?;
        let session = state
            .store
            .sign_in(
                &user.id,
                &workspace_id,
                state.config.session_ttl_secs,
                &meta,
            )
            .await?;
        count_signin("success");
        tracing::info!(user_id = %user.id, workspace_id = %workspace_id, "signed in");
        open_session(
            &state,
            &user,
            &workspace_id,
            session,
            form,
            &return_to,
            StatusCode::OK,
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| fail(&state, Page::SignIn, form, &return_to, &shown_email, e))
}

/// Revoke the caller's session (if any) and clear the cookie. With
/// `everywhere=true`, end every session of the user and revoke every API key
/// behind them; a JSON caller is told which (`200`), and a failure is not
/// passed off as a sign-out.
pub async fn signout(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    Query(q): Query<SignOut>,
    headers: HeaderMap,
) -> Response {
    let mut everywhere = None;
    // A session from a provider with an end-session endpoint: a browser
    // signs out there too (RP-initiated logout), after the local sign-out.
    let mut end_session = None;
    if let Some(token) = session_token(&headers, &state.config.cookie_name)
        && let Ok(claims) = state.keys.verify(&token)
    {
        let meta = meta.with_actor(ActorKind::User, &claims.sub);
        if let Ok(Some(session)) = state.store.session(&claims.sid).await {
            end_session = super::sso_signout::end_session_url(&state, &session).await;
        }
        if q.everywhere.unwrap_or(false) {
            let ended = state.store.revoke_all_sessions(&claims.sub, &meta).await;
            if let Err(e) = &ended {
                tracing::warn!(error = %e, "signing out everywhere failed");
            }
            everywhere = Some(ended.map_err(ApiError::from));
        } else if let Err(e) = state
            .store
            .revoke_session(&claims.sid, Some(&claims.wid), &meta)
            .await
        {
            tracing::warn!(error = %e, "revoking the session at sign-out failed");
        }
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let mut response = match everywhere {
        Some(Err(e)) => e.into_response(),
        _ if wants_html => {
            Redirect::to(end_session.as_deref().unwrap_or("/.wrnexus/signin")).into_response()
        }
        Some(Ok(ended)) => Json(ended).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    if let Ok(cookie) = session_cookie(&state, String::new(), 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /.wrnexus/signout?everywhere=true` ends every session of the user.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    everywhere: Option<bool>,
}

/// The signed-in user, the current workspace and every membership.
pub async fn whoami(State(state): State<AppState>, actor: Actor) -> Result<Response, ApiError> {
    let workspaces = state.store.workspaces_of(&actor.user_id).await?;
    let memberships: Vec<Membership<'_>> = workspaces
        .iter()
        .map(|w| Membership::of(w, &actor.claims))
        .collect();
    let current = memberships
        .iter()
        .find(|m| m.workspace.workspace.id == actor.workspace_id)
        .copied();
    let body = WhoAmI {
        user: UserRef {
            id: &actor.user_id,
            email: &actor.email,
        },
        workspace: current,
        workspaces: memberships,
    };
    Ok(Json(body).into_response())
}

/// `POST /.wrnexus/switch` body (JSON or form).
#[derive(Debug, Deserialize)]
pub struct SwitchTo {
    workspace_id: Option<String>,
    return_to: Option<String>,
}

/// Re-issue the cookie in place: same session, new workspace. Forms get a
/// 303 to `return_to` (same-origin paths only); JSON gets the workspace.
pub async fn switch(
    State(state): State<AppState>,
    actor: Actor,
    input: Input<SwitchTo>,
) -> Result<Response, ApiError> {
    let form = input.form;
    let workspace_id = required(input.value.workspace_id, "workspace_id")?;
    let return_to = input.value.return_to.unwrap_or_else(|| "/".to_string());
    if state
        .store
        .role_of(&workspace_id, &actor.user_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("workspace"));
    }
    let session = state
        .store
        .session(&actor.session_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let claims = SessionClaims {
        wid: workspace_id.clone(),
        iat: now(),
        exp: session.expires_at,
        // How and when the person signed in, as the session row says
        // (never carried over from the cookie being replaced).
        amr: session.signed_in.amr.clone(),
        auth_time: session.signed_in.auth_time,
        sso_wid: session.signed_in.sso_workspace_id.clone(),
        ..actor.claims.clone()
    };
    let token = state.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing a session token failed");
        ApiError::internal()
    })?;
    let role = state
        .store
        .switch_workspace(
            &actor.user_id,
            &actor.session_id,
            &workspace_id,
            &actor.meta,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let cookie = session_cookie(&state, token, (session.expires_at - now()).max(0))?;
    let mut response = if form {
        Redirect::to(safe_return_to(&return_to)).into_response()
    } else {
        Json(Switched {
            workspace: SwitchedTo {
                id: &workspace_id,
                role,
            },
        })
        .into_response()
    };
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}
