//! The pages opened from account mail, and their forms (JSON works too):
//! `/.wrnexus/verify-email` (GET shows a button and never uses the link —
//! mail scanners open links; POST verifies), `/.wrnexus/forgot-password`
//! (the same answer whether or not the email has an account) and
//! `/.wrnexus/reset-password` (a new password; every session ends, and the
//! person is signed in afresh). Forms are rate limited per client address
//! and per email.

use super::super::AppState;
use super::super::actor::Actor;
use super::super::auth::{normalise_email, open_session};
use super::super::error::ApiError;
use super::super::input::Input;
use super::super::meta::RequestMeta;
use super::super::pages::Page;
use super::new_hash;
use crate::api::pages::account::{Context, Step, render};
use crate::store::account_tokens::{Purpose, Standing, refusal};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use wrnexus_policies::redirect::safe_return_to;

/// A link's query: `?token=…`.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /.wrnexus/verify-email`.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    token: Option<String>,
}

/// `GET|POST /.wrnexus/forgot-password`.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: Option<String>,
    return_to: Option<String>,
}

/// `POST /.wrnexus/reset-password`.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    token: Option<String>,
    password: Option<String>,
}

/// The JSON answer of a verification.
#[derive(Debug, Serialize)]
struct VerifiedBody<'a> {
    email: &'a str,
    email_verified: bool,
    changed: bool,
}

fn logo(state: &AppState) -> bool {
    state.config.pages.logo().is_some()
}

/// The refusal of a missing token (as of an unknown one).
fn no_token() -> ApiError {
    ApiError::from(refusal(Standing::Unknown))
}

/// Where a link stands, as a refusal unless it can be used.
async fn usable(state: &AppState, token: &str, purpose: Purpose) -> Result<(), ApiError> {
    match state.store.link_standing(token, purpose).await? {
        Standing::Usable => Ok(()),
        other => Err(refusal(other).into()),
    }
}

/// A page saying the link cannot be used, and why.
fn refused(state: &AppState, page: Page, e: &ApiError) -> Response {
    render(
        &state.config.pages,
        page,
        e.status,
        Context::new(Step::Refused, "/", logo(state)).with_error(e),
    )
}

/// `GET /.wrnexus/verify-email?token=…`: a button; nothing is used yet.
/// Without a token, a signed-in person whose email is not verified is
/// offered a new link.
pub async fn verify_page(
    State(state): State<AppState>,
    actor: Result<Actor, ApiError>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    if token.is_empty()
        && let Ok(actor) = actor
    {
        return match state.store.account(&actor.user_id).await {
            Ok(Some(account)) => {
                let step = if account.email_verified {
                    Step::Done
                } else {
                    Step::Resend
                };
                let mut context = Context::new(step, "/", logo(&state));
                context.email = &account.email;
                render(
                    &state.config.pages,
                    Page::VerifyEmail,
                    StatusCode::OK,
                    context,
                )
            }
            Ok(None) => ApiError::unauthenticated().into_response(),
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    link_form(&state, &token, Purpose::VerifyEmail, Page::VerifyEmail).await
}

/// `POST /.wrnexus/verify-email` (form or JSON `token`): the address is
/// verified (or the account's email switched to it).
pub async fn verify(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    input: Input<VerifyForm>,
) -> Response {
    let form = input.form;
    let token = input.value.token.unwrap_or_default();
    let result = if token.is_empty() {
        Err(no_token())
    } else {
        state
            .store
            .verify_email(&token, &meta)
            .await
            .map_err(ApiError::from)
    };
    match (result, form) {
        (Ok(v), true) => {
            let mut context = Context::new(Step::Done, "/", logo(&state));
            context.email = &v.email;
            context.changed = v.changed;
            render(
                &state.config.pages,
                Page::VerifyEmail,
                StatusCode::OK,
                context,
            )
        }
        (Ok(v), false) => Json(VerifiedBody {
            email: &v.email,
            email_verified: true,
            changed: v.changed,
        })
        .into_response(),
        (Err(e), true) => refused(&state, Page::VerifyEmail, &e),
        (Err(e), false) => e.into_response(),
    }
}

/// `POST /.wrnexus/verify-email/resend` (signed in): a new verification
/// link is mailed; older ones stop working.
pub async fn resend(State(state): State<AppState>, actor: Actor) -> Response {
    let who = format!("user:{}", actor.user_id);
    let sent = async {
        state
            .limits
            .account(Some(&who), actor.meta.ip.as_deref())
            .await?;
        state
            .store
            .resend_verification(&actor.user_id, &state.config, &actor.meta)
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let email = actor.email.clone();
    let context = Context::new(Step::Sent, "/", logo(&state));
    match sent {
        Ok(()) => {
            let mut context = context;
            context.email = &email;
            render(
                &state.config.pages,
                Page::VerifyEmail,
                StatusCode::ACCEPTED,
                context,
            )
        }
        Err(e) => {
            let mut context = Context::new(Step::Resend, "/", logo(&state)).with_error(&e);
            context.email = &email;
            render(&state.config.pages, Page::VerifyEmail, e.status, context)
        }
    }
}

/// `GET /.wrnexus/forgot-password`: the form.
pub async fn forgot_page(State(state): State<AppState>, Query(q): Query<ForgotForm>) -> Response {
    let return_to = q.return_to.unwrap_or_else(|| "/".to_string());
    let return_to = safe_return_to(&return_to);
    let email = q.email.unwrap_or_default();
    let mut context = Context::new(Step::Form, return_to, logo(&state));
    context.email = &email;
    render(
        &state.config.pages,
        Page::ForgotPassword,
        StatusCode::OK,
        context,
    )
}

/// `POST /.wrnexus/forgot-password` (form or JSON `email`): a reset link
/// is mailed when the email has an account; the answer is the same either
/// way (a page, or `202` with no body), and given before the account is
/// looked up (after the rate limit), so it takes as long either way.
pub async fn forgot(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    input: Input<ForgotForm>,
) -> Response {
    let form = input.form;
    let shown = input.value.email.clone().unwrap_or_default();
    let return_to = input.value.return_to.unwrap_or_else(|| "/".to_string());
    let return_to = safe_return_to(&return_to);
    let result = async {
        let email = normalise_email(
            &input
                .value
                .email
                .filter(|e| !e.is_empty())
                .ok_or_else(|| ApiError::missing("email"))?,
        )?;
        state
            .limits
            .account(Some(&email), meta.ip.as_deref())
            .await?;
        // Looked up and queued after answering: how long the answer takes
        // tells nothing about whether the email has an account.
        let state = state.clone();
        let meta = meta.clone();
        tokio::spawn(async move {
            if let Err(e) = state
                .store
                .request_password_reset(&email, &state.config, &meta)
                .await
            {
                tracing::warn!(error = %e, %email, "queuing a password reset failed");
            }
        });
        Ok::<_, ApiError>(())
    }
    .await;
    match (result, form) {
        (Ok(()), true) => {
            let mut context = Context::new(Step::Done, return_to, logo(&state));
            context.email = &shown;
            render(
                &state.config.pages,
                Page::ForgotPassword,
                StatusCode::OK,
                context,
            )
        }
        (Ok(()), false) => StatusCode::ACCEPTED.into_response(),
        (Err(e), true) => {
            let mut context = Context::new(Step::Form, return_to, logo(&state)).with_error(&e);
            context.email = &shown;
            let status = e.status;
            let mut response = render(&state.config.pages, Page::ForgotPassword, status, context);
            if let Some(secs) = e.retry_after {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            response
        }
        (Err(e), false) => e.into_response(),
    }
}

/// `GET /.wrnexus/reset-password?token=…`: the form, for a link that can
/// still be used; nothing is used yet.
pub async fn reset_page(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    link_form(&state, &token, Purpose::ResetPassword, Page::ResetPassword).await
}

/// The form a link opens while it can still be used (nothing is used
/// yet), or the page saying why it cannot.
async fn link_form(state: &AppState, token: &str, purpose: Purpose, page: Page) -> Response {
    let checked = if token.is_empty() {
        Err(no_token())
    } else {
        usable(state, token, purpose).await
    };
    match checked {
        Ok(()) => {
            let mut context = Context::new(Step::Form, "/", logo(state));
            context.token = token;
            render(&state.config.pages, page, StatusCode::OK, context)
        }
        Err(e) => refused(state, page, &e),
    }
}

/// `POST /.wrnexus/reset-password` (form or JSON `token`, `password`): the
/// password is set, every session of the user ends (pushed to every
/// gateway), and a fresh session is opened: a form goes on to `/`, JSON
/// gets the sign-in answer.
pub async fn reset(
    State(state): State<AppState>,
    RequestMeta(meta): RequestMeta,
    input: Input<ResetForm>,
) -> Response {
    let form = input.form;
    let token = input.value.token.unwrap_or_default();
    let result = async {
        state
            .limits
            .account(None, meta.ip.as_deref())
            .await
            .map_err(|e| (e, false))?;
        if token.is_empty() {
            return Err((no_token(), true));
        }
        usable(&state, &token, Purpose::ResetPassword)
            .await
            .map_err(|e| (e, true))?;
        let password = input
            .value
            .password
            .filter(|p| !p.is_empty())
            .ok_or_else(|| (ApiError::missing("password"), false))?;
        let hash = new_hash(password, "password")
            .await
            .map_err(|e| (e, false))?;
        let reset = state
            .store
            .reset_password(&token, &hash, &state.config, &meta)
            .await
            .map_err(|e| (ApiError::from(e), true))?;
        tracing::info!(
            user_id = %reset.user_id,
            sessions_ended = reset.sessions_ended,
            api_keys_revoked = reset.api_keys_revoked.len(),
            "password reset"
        );
        let user = state
            .store
            .user(&reset.user_id)
            .await
            .map_err(|e| (ApiError::from(e), false))?
            .ok_or_else(|| (ApiError::not_found("user"), false))?;
        let signed_in = async {
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
            open_session(
                &state,
                &user,
                &workspace_id,
                session,
                form,
                "/",
                StatusCode::OK,
            )
            .await
        };
        signed_in.await.map_err(|e: ApiError| (e, false))
    }
    .await;
    match result {
        Ok(response) => response,
        Err((e, _)) if !form => e.into_response(),
        // The link itself is refused: say so, with a way to a new one.
        Err((e, true)) => refused(&state, Page::ResetPassword, &e),
        Err((e, false)) => {
            let mut context = Context::new(Step::Form, "/", logo(&state)).with_error(&e);
            context.token = &token;
            render(&state.config.pages, Page::ResetPassword, e.status, context)
        }
    }
}
