//! A workspace's verified domains (owners only): add one and get the DNS
//! record to publish, list them, check one now, remove one.

use super::AppState;
use super::authz::{Allowed, authorize, owner_only};
use super::caller::Caller;
use super::error::ApiError;
use super::input::Input;
use super::responses as doc;
use crate::sso::dns::{QUERY_TIMEOUT, TxtChecker};
use crate::sso::domain_worker::outcome;
use crate::store::sso_domain_checks::CheckChange;
use crate::store::sso_domains::SsoDomain;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wrnexus_policies::Action;

/// What the owner refusal names.
const WHAT: &str = "manage the workspace's single sign-on domains";

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDomain {
    /// A domain name like `example.com` (international names welcome).
    domain: Option<String>,
}

/// A workspace's domains.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    pub domains: Vec<SsoDomain>,
}

/// One domain, with the record to publish.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    pub domain: SsoDomain,
}

/// A domain after a check.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainChecked {
    pub domain: SsoDomain,
    /// The record was found with the expected value.
    pub verified: bool,
    /// `verified`, `unverified` or `none`: what this check changed.
    pub change: &'static str,
}

/// Owners only: an allowed admin decision, then the owner rule.
async fn owner(state: &AppState, caller: &Caller, id: &str) -> Result<Allowed, ApiError> {
    let allowed = authorize(state, caller, id, None, Action::ADMIN, "/sso/domains").await?;
    owner_only(state, caller, &allowed, WHAT).await?;
    Ok(allowed)
}

/// A workspace's domains (owners).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/sso/domains",
    tag = "sso",
    operation_id = "list_sso_domains",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The domains and their records", body = DomainList),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DomainList>, ApiError> {
    owner(&state, &caller, &id).await?;
    let domains = state.store.sso_domains(&id).await?;
    Ok(Json(DomainList { domains }))
}

/// Claim a domain (owners): pending until its TXT record is found.
#[utoipa::path(
    post,
    path = "/workspaces/{id}/sso/domains",
    tag = "sso",
    operation_id = "add_sso_domain",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((NewDomain = "application/json"), (NewDomain = "application/x-www-form-urlencoded"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The domain and the TXT record to publish", body = DomainView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<NewDomain>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    owner(&state, &caller, &id).await?;
    let raw = input
        .value
        .domain
        .ok_or_else(|| ApiError::missing("domain"))?;
    let domain = state.store.add_sso_domain(&id, &raw, caller.meta()).await?;
    Ok((StatusCode::CREATED, Json(DomainView { domain })))
}

/// Remove a domain (owners).
#[utoipa::path(
    delete,
    path = "/workspaces/{id}/sso/domains/{domain_id}",
    tag = "sso",
    operation_id = "remove_sso_domain",
    params(("id" = String, Path, description = "Workspace id"), ("domain_id" = String, Path, description = "Domain id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, domain_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    owner(&state, &caller, &id).await?;
    state
        .store
        .remove_sso_domain(&id, &domain_id, caller.meta())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Look the domain's TXT record up now (owners) and record the outcome.
#[utoipa::path(
    post,
    path = "/workspaces/{id}/sso/domains/{domain_id}/verify",
    tag = "sso",
    operation_id = "verify_sso_domain",
    params(("id" = String, Path, description = "Workspace id"), ("domain_id" = String, Path, description = "Domain id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The domain as the check left it", body = DomainChecked),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, domain_id)): Path<(String, String)>,
) -> Result<Json<DomainChecked>, ApiError> {
    owner(&state, &caller, &id).await?;
    let domain = state.store.sso_domain(&id, &domain_id).await?;
    let token = token_of(&domain);
    let checker = TxtChecker::new(state.config.sso.dns_resolver, QUERY_TIMEOUT).map_err(|e| {
        tracing::error!(error = %e, "domain check: no DNS resolver");
        ApiError::internal()
    })?;
    let found = outcome(checker.check(&domain.domain, token).await);
    let (domain, change) = state
        .store
        .record_sso_domain_check(&id, &domain_id, &found, caller.meta())
        .await?;
    Ok(Json(DomainChecked {
        verified: domain.verified_at.is_some(),
        change: match change {
            CheckChange::Verified => "verified",
            CheckChange::Unverified => "unverified",
            CheckChange::None => "none",
        },
        domain,
    }))
}

/// The token inside the record's value.
fn token_of(domain: &SsoDomain) -> &str {
    domain
        .record
        .value
        .strip_prefix(crate::sso::domain_name::VALUE_PREFIX)
        .unwrap_or_default()
}
