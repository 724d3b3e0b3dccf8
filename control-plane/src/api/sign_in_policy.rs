//! A workspace's sign-in policy (owners only): which ways of signing in its
//! sessions may have used (`["sso"]` alone: "require SSO", through the
//! workspace's own IdP) and how old a session may be. The gateway enforces
//! it on every request (`sign_in.cedar`).

use super::AppState;
use super::authz::{authorize, owner_only};
use super::caller::Caller;
use super::error::ApiError;
use super::input::Input;
use super::responses as doc;
use crate::store::sign_in_policy::{MIN_SESSION_AGE_SECS, SignInPolicy};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wrnexus_contract::ProblemCode;
use wrnexus_policies::{Action, SignInMethod, SignInMethods};

/// `PUT /v1/workspaces/{id}/sign-in-policy` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// The ways of signing in the workspace's sessions may have used, at
    /// least one of `password`, `oidc` (an instance-wide provider) and
    /// `sso` (the workspace's own IdP). `["sso"]` alone: "require SSO".
    methods: Option<Vec<String>>,
    /// How old (seconds since signing in) a session may be, at least 300;
    /// `null` or absent: any age.
    #[serde(default)]
    max_session_age_secs: Option<i64>,
}

/// A sign-in policy as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// The methods allowed, in the order `password`, `oidc`, `sso`.
    pub methods: Vec<String>,
    /// `null`: sessions of any age.
    pub max_session_age_secs: Option<i64>,
    /// Whether only the workspace's own IdP signs its people in
    /// (`methods == ["sso"]`).
    pub require_sso: bool,
}

impl From<SignInPolicy> for PolicyView {
    fn from(policy: SignInPolicy) -> Self {
        PolicyView {
            methods: policy
                .methods
                .iter()
                .map(|m| m.as_str().to_string())
                .collect(),
            max_session_age_secs: policy.max_session_age_secs,
            require_sso: policy.requires_sso(),
        }
    }
}

/// The body as a policy, or an error naming the field.
pub fn policy(body: PolicyBody) -> Result<SignInPolicy, ApiError> {
    let names = body.methods.ok_or_else(|| ApiError::missing("methods"))?;
    let mut methods = SignInMethods::NONE;
    for name in &names {
        let method = name.parse::<SignInMethod>().map_err(|_| {
            ApiError::field(
                ProblemCode::InvalidList,
                "methods",
                format!("`methods` may list only `password`, `oidc` and `sso`, not `{name}`"),
            )
        })?;
        methods = methods.with(method);
    }
    if methods.is_empty() {
        return Err(ApiError::field(
            ProblemCode::InvalidList,
            "methods",
            "`methods` must name at least one way of signing in",
        ));
    }
    if body
        .max_session_age_secs
        .is_some_and(|age| age < MIN_SESSION_AGE_SECS)
    {
        return Err(ApiError::field(
            ProblemCode::InvalidField,
            "max_session_age_secs",
            format!("`max_session_age_secs` must be at least {MIN_SESSION_AGE_SECS}, or null"),
        ));
    }
    Ok(SignInPolicy {
        methods,
        max_session_age_secs: body.max_session_age_secs,
    })
}

/// Check the caller is an owner of `id`.
async fn owner(state: &AppState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let allowed = authorize(state, caller, id, None, Action::ADMIN, "/sign-in-policy").await?;
    owner_only(state, caller, &allowed, "set the sign-in policy").await
}

/// The workspace's sign-in policy (owners).
#[utoipa::path(
    get,
    path = "/workspaces/{id}/sign-in-policy",
    tag = "sso",
    operation_id = "get_sign_in_policy",
    params(("id" = String, Path, description = "Workspace id")),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The policy", body = PolicyView),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound)
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    owner(&state, &caller, &id).await?;
    Ok(Json(state.store.sign_in_policy(&id).await?.into()))
}

/// Set the workspace's sign-in policy (owners): every gateway enforces it
/// on the next request. Requiring SSO needs an enabled SSO connection
/// (409 `sso_connection_missing`).
#[utoipa::path(
    put,
    path = "/workspaces/{id}/sign-in-policy",
    tag = "sso",
    operation_id = "put_sign_in_policy",
    params(("id" = String, Path, description = "Workspace id")),
    request_body(content((PolicyBody = "application/json"))),
    security(("session" = []), ("session_bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The policy now in force", body = PolicyView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict)
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    input: Input<PolicyBody>,
) -> Result<Json<PolicyView>, ApiError> {
    owner(&state, &caller, &id).await?;
    let policy = policy(input.value)?;
    let saved = state
        .store
        .set_sign_in_policy(&id, policy, caller.meta())
        .await?;
    Ok(Json(saved.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> Result<PolicyBody, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_policy_names_its_methods_and_age() -> Result<(), Box<dyn std::error::Error>> {
        let p = policy(body(
            serde_json::json!({"methods": ["sso"], "max_session_age_secs": 3600}),
        )?)
        .map_err(|e| e.detail)?;
        assert!(p.requires_sso());
        assert_eq!(p.max_session_age_secs, Some(3600));
        let view = PolicyView::from(p);
        assert_eq!(view.methods, ["sso"]);
        assert!(view.require_sso);
        let open = policy(body(
            serde_json::json!({"methods": ["sso", "password", "oidc"]}),
        )?)
        .map_err(|e| e.detail)?;
        assert_eq!(open.methods, SignInMethods::ALL);
        assert_eq!(open.max_session_age_secs, None);
        assert!(!PolicyView::from(open).require_sso);
        Ok(())
    }

    #[test]
    fn bad_input_names_its_field() -> Result<(), serde_json::Error> {
        let field = |json: serde_json::Value| -> Result<Option<String>, serde_json::Error> {
            Ok(policy(body(json)?)
                .err()
                .and_then(|e| e.field.map(|f| f.to_string())))
        };
        assert_eq!(field(serde_json::json!({}))?.as_deref(), Some("methods"));
        assert_eq!(
            field(serde_json::json!({"methods": []}))?.as_deref(),
            Some("methods")
        );
        assert_eq!(
            field(serde_json::json!({"methods": ["pwd"]}))?.as_deref(),
            Some("methods")
        );
        assert_eq!(
            field(serde_json::json!({"methods": ["password"], "max_session_age_secs": 299}))?
                .as_deref(),
            Some("max_session_age_secs")
        );
        assert_eq!(
            field(serde_json::json!({"methods": ["password"], "max_session_age_secs": null}))?,
            None
        );
        Ok(())
    }
}
