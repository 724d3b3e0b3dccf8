//! OpenAPI descriptions of what the JSON API answers: the response bodies
//! the handlers build with `json!`, problem+json errors, and the policy
//! vocabulary (`Role`, `WorkspaceStatus`) whose crate stays free of utoipa.
//!
//! These types are never built; they exist to be described.

use crate::store::api_keys::ApiKey;
use crate::store::audit::AuditEntry;
use crate::store::invitations::Invitation;
use crate::store::members::Member;
use crate::store::projects::Project;
use crate::store::webhooks::{CreatedEndpoint, DeliveryEntry, Endpoint};
use crate::store::workspaces::{MyWorkspace, Workspace};
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

/// A member's role in a workspace, strongest first
/// (`wrnexus_policies::Role`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

/// Whether a workspace may change things; `suspended` is read-only
/// (`wrnexus_policies::WorkspaceStatus`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceStatus {
    Active,
    Suspended,
}

/// An RFC 9457 problem: every error answer, as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `/.wrnexus/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable, e.g. `missing_field`, `not_found`.
    pub code: String,
    /// One sentence for people.
    pub detail: String,
    /// The offending input field, for 400s about one field (a JSON value of
    /// the wrong type is named by its path in the body, e.g. `role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The policy decision behind a 403 (also in `x-wrnexus-decision-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
}

/// The input is invalid (see `field`).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// No valid session, session token or API key.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(pub Problem);

/// The policy refused (see `decision_id`).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// No such resource, or not visible to the caller.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The change conflicts with the current state (e.g. a name is taken).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// Too many attempts; wait `Retry-After` seconds.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct TooManyRequests(pub Problem);

/// Workspaces the caller belongs to, with its role in each.
#[derive(Debug, ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<MyWorkspace>,
}

/// A workspace and the caller's role in it.
#[derive(Debug, ToSchema)]
pub struct WorkspaceWithRole {
    pub workspace: Workspace,
    pub role: Role,
}

/// A workspace.
#[derive(Debug, ToSchema)]
pub struct WorkspaceBody {
    pub workspace: Workspace,
}

/// Ownership moved: the new owner, and the role the previous one keeps.
#[derive(Debug, ToSchema)]
pub struct Transferred {
    pub owner: String,
    pub previous_owner_role: Role,
}

/// Members of a workspace.
#[derive(Debug, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// One member.
#[derive(Debug, ToSchema)]
pub struct MemberBody {
    pub member: Member,
}

/// A new invitation and its token, shown this once.
#[derive(Debug, ToSchema)]
pub struct InvitationCreated {
    pub invitation: Invitation,
    pub token: String,
}

/// The workspace joined, and the role in it.
#[derive(Debug, ToSchema)]
pub struct InvitationAccepted {
    pub workspace_id: String,
    pub role: Role,
}

/// Projects of a workspace (only the granted ones for a limited member).
#[derive(Debug, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// One project.
#[derive(Debug, ToSchema)]
pub struct ProjectBody {
    pub project: Project,
}

/// API keys of a workspace, never with their secrets.
#[derive(Debug, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

/// A new API key and its secret (`wrn_…`), shown this once.
#[derive(Debug, ToSchema)]
pub struct ApiKeyCreated {
    pub api_key: ApiKey,
    pub secret: String,
}

/// An audit row as the API renders it.
#[derive(Debug, ToSchema)]
pub struct AuditRow {
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// `at` as RFC 3339.
    pub time: String,
}

/// One page of the audit log.
#[derive(Debug, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Webhook endpoints of a workspace, never with their secrets.
#[derive(Debug, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Endpoint>,
}

/// A new endpoint with its signing secret, shown this once.
#[derive(Debug, ToSchema)]
pub struct WebhookCreated {
    pub webhook: CreatedEndpoint,
}

/// The test event queued for delivery.
#[derive(Debug, ToSchema)]
pub struct TestEventQueued {
    pub event_id: String,
}

/// The newest deliveries of a workspace's webhooks.
#[derive(Debug, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryEntry>,
}

/// The control plane's public signing keys (RFC 7517 JWK set).
#[derive(Debug, ToSchema)]
pub struct Jwks {
    pub keys: Vec<serde_json::Value>,
}

/// Versioned decision entries (session, user, workspace, membership) keyed
/// by cache key, as gateways cache them.
#[derive(Debug, ToSchema)]
pub struct DecisionData {
    pub entries: std::collections::BTreeMap<String, serde_json::Value>,
}
