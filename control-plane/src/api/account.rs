//! The signed-in person's own account (an API key is refused with
//! `user_required`): `GET /account`, a change of email (verified from a
//! link mailed to the new address), a change of password (the current one
//! needed; the other sessions end), and a fresh verification link. The
//! pages opened from mailed links are in [`links`].

pub mod links;

use super::AppState;
use super::auth::normalise_email;
use super::caller::{Caller, person};
use super::error::ApiError;
use super::input::Input;
use super::responses as doc;
use crate::password;
use crate::store::account_changes::AccountView;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;

/// `POST /account/email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChange {
    /// The new address; a link is mailed to it.
    pub email: Option<String>,
    pub current_password: Option<String>,
}

/// `POST /account/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: Option<String>,
    /// Follows the sign-up rule.
    pub new_password: Option<String>,
}

fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing(field))
}

/// Hash a new password (argon2id) after checking the strength rule, which
/// names `field`.
pub(crate) async fn new_hash(password: String, field: &'static str) -> Result<String, ApiError> {
    password::check(&password)
        .map_err(|e| ApiError::field(ProblemCode::WeakPassword, field, e.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())
}

/// Refuse unless `given` is the user's current password (`wrong_password`
/// naming `current_password`).
async fn check_current(state: &AppState, user_id: &str, given: String) -> Result<(), ApiError> {
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let phc = user.password_hash;
    let matches = tokio::task::spawn_blocking(move || password::verify(&given, &phc))
        .await
        .map_err(|_| ApiError::internal())?;
    if matches {
        return Ok(());
    }
    let mut refused = ApiError::field(
        ProblemCode::WrongPassword,
        "current_password",
        "`current_password` is not the account's password",
    );
    refused.status = StatusCode::FORBIDDEN;
    Err(refused)
}

/// The caller's own account.
#[utoipa::path(
    get,
    path = "/account",
    tag = "account",
    operation_id = "get_account",
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 200, description = "The account; `pending_email` while a change of email waits for its link", body = AccountView),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccountView>, ApiError> {
    let actor = person(caller)?;
    let account = state
        .store
        .account(&actor.user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(Json(account))
}

/// Change the account's email: a verification link goes to the new
/// address, and the email changes only when it is used.
#[utoipa::path(
    post,
    path = "/account/email",
    tag = "account",
    operation_id = "change_email",
    request_body = EmailChange,
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 202, description = "A verification link was mailed to the new address"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 429, response = doc::TooManyRequests)
    )
)]
pub async fn change_email(
    State(state): State<AppState>,
    caller: Caller,
    input: Input<EmailChange>,
) -> Result<StatusCode, ApiError> {
    let actor = person(caller)?;
    let email = normalise_email(&required(input.value.email, "email")?)?;
    let current = required(input.value.current_password, "current_password")?;
    let who = format!("user:{}", actor.user_id);
    state
        .limits
        .account(Some(&who), actor.meta.ip.as_deref())
        .await?;
    check_current(&state, &actor.user_id, current).await?;
    state
        .store
        .request_email_change(&actor.user_id, &email, &state.config, &actor.meta)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Change the password: the current one is needed, the new one follows
/// the sign-up rule; every other session of the user ends (this one
/// stays), and a notice is mailed.
#[utoipa::path(
    post,
    path = "/account/password",
    tag = "account",
    operation_id = "change_password",
    request_body = PasswordChange,
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 204, description = "Changed; the other sessions ended"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 429, response = doc::TooManyRequests)
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    input: Input<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let actor = person(caller)?;
    let current = required(input.value.current_password, "current_password")?;
    let new = required(input.value.new_password, "new_password")?;
    let who = format!("user:{}", actor.user_id);
    state
        .limits
        .account(Some(&who), actor.meta.ip.as_deref())
        .await?;
    check_current(&state, &actor.user_id, current).await?;
    let hash = new_hash(new, "new_password").await?;
    state
        .store
        .change_password(
            &actor.user_id,
            &actor.session_id,
            &hash,
            &state.config,
            &actor.meta,
        )
        .await?;
    tracing::info!(user_id = %actor.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a fresh link verifying the account's email; older links stop
/// working.
#[utoipa::path(
    post,
    path = "/account/verification",
    tag = "account",
    operation_id = "resend_verification",
    security(("session" = []), ("session_bearer" = [])),
    responses(
        (status = 202, description = "A fresh verification link was mailed"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 429, response = doc::TooManyRequests)
    )
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let actor = person(caller)?;
    let who = format!("user:{}", actor.user_id);
    state
        .limits
        .account(Some(&who), actor.meta.ip.as_deref())
        .await?;
    state
        .store
        .resend_verification(&actor.user_id, &state.config, &actor.meta)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
