//! The OpenAPI 3.1 document of the `/v1` JSON API, generated from the
//! handlers' `#[utoipa::path]` annotations and the very types they answer
//! with (each handler module defines its response bodies; error bodies are
//! the contract's [`Problem`]), and the handler serving it.

use super::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unavailable,
};
use super::{
    api_keys, audit, billing, internal, key_usage, members, operator, projects, webhooks,
    workspaces,
};
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use wrnexus_contract::{Problem, Role, WorkspaceStatus};

/// The whole API, as documented.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "WRNexus control plane API",
        description = "Workspaces, members, projects, API keys, audit, webhooks and billing. \
            Request bodies may be JSON or `application/x-www-form-urlencoded`; \
            errors are RFC 9457 `application/problem+json`."
    ),
    servers(
        (url = "/v1", description = "The control plane"),
        (url = "/.wrnexus/api/v1", description = "Through a gateway")
    ),
    paths(
        super::health::health,
        document,
        internal::keys,
        internal::assertion_keys,
        internal::decision_data,
        key_usage::report,
        workspaces::list,
        workspaces::create,
        workspaces::get,
        workspaces::rename,
        workspaces::delete,
        workspaces::transfer,
        super::permissions::permissions,
        members::list,
        members::change,
        members::remove,
        super::invitations::invite,
        super::invitations::list,
        super::invitations::resend,
        super::invitations::revoke,
        super::invitations::preview,
        super::invitations::accept,
        super::invitations::decline,
        super::account::get,
        super::account::change_email,
        super::account::change_password,
        super::account::resend_verification,
        super::sessions::list,
        super::sessions::end,
        super::sso_domains::list,
        super::sso_domains::add,
        super::sso_domains::remove,
        super::sso_domains::verify,
        super::sso_connections::get,
        super::sso_connections::put,
        super::sso_connections::delete,
        super::sign_in_policy::get,
        super::sign_in_policy::put,
        projects::list,
        projects::create,
        projects::update,
        api_keys::list,
        api_keys::create,
        api_keys::revoke,
        audit::list,
        audit::export,
        webhooks::list,
        webhooks::create,
        webhooks::deliveries,
        webhooks::delete,
        webhooks::test,
        billing::view,
        billing::checkout,
        billing::portal,
        billing::stripe_webhook,
        operator::suspend,
        operator::reactivate,
        operator::disable_user,
    ),
    components(
        schemas(Problem, Role, WorkspaceStatus),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooManyRequests,
            Unavailable,
        )
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "workspaces", description = "Workspaces the caller belongs to"),
        (name = "account", description = "The signed-in person's own account and sessions"),
        (name = "members", description = "Members of a workspace and their roles"),
        (name = "invitations", description = "Inviting people into a workspace"),
        (name = "projects", description = "Projects of a workspace"),
        (name = "api-keys", description = "API keys acting in one workspace"),
        (name = "audit", description = "A workspace's audit log"),
        (name = "webhooks", description = "Outbound webhooks and their deliveries"),
        (name = "sso", description = "Single sign-on: connections, verified domains (owners only)"),
        (name = "billing", description = "Plan, seats, invoices and Stripe (owners only)"),
        (name = "operator", description = "Operator actions (token from configuration)"),
        (name = "internal", description = "What gateways ask the control plane"),
        (name = "meta", description = "Health and this document")
    )
)]
pub struct ApiDoc;

/// Adds the security schemes: they need builders the derive cannot express.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-wrnexus_session",
                "The session cookie set by sign-in; the same session token is \
                 also accepted as a Bearer JWT (`session_bearer`).",
            ))),
        );
        components.add_security_scheme(
            "session_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The session token (a JWT) as a Bearer."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("wrn_<key id>_<secret>")
                    .description(Some(
                        "A workspace API key; it acts only in its own workspace, \
                         within its role ceiling.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "gateway",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The gateway token (`WRNEXUS_GATEWAY_TOKEN`), shared by the \
                         control plane and its gateways.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator token (`WRNEXUS_OPERATOR_TOKEN`)."))
                    .build(),
            ),
        );
    }
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
