//! Routes as configured: which app serves which host and path prefix, and
//! the rules mapping its requests to Cedar actions.

use super::upstream::Upstream;
use super::upstream_options::UpstreamOptions;
use std::time::Duration;

/// One rule mapping requests of a route to a Cedar action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRule {
    /// Upper-case methods; empty: any method.
    pub methods: Vec<String>,
    /// Matched on segment boundaries against the whole canonical request
    /// path, ASCII case ignored (see [`crate::request::path`]).
    pub path_prefix: String,
    /// A Cedar action declared in the schema.
    pub action: String,
}

/// Where a route's requests name their project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectFrom {
    /// A path pattern matched from the start of the canonical path, e.g.
    /// `/w/{workspace_id}/p/{project_id}`: literal segments (ASCII case
    /// ignored), `{project_id}` once, other `{…}` any one segment.
    Path(String),
    /// A header the app's own client sends (lowercase name).
    Header(String),
}

/// How a route's requests name their project, and whether they must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectConfig {
    pub from: ProjectFrom,
    /// A request naming no project is refused (400 `project_required`).
    pub required: bool,
}

/// A route as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Used in logs and as the metrics label.
    pub name: String,
    /// Exact host (case-insensitive, port ignored); `None`: any host.
    pub host: Option<String>,
    pub path_prefix: String,
    /// At least one, all with the same scheme (see [`Upstream::parse_list`]).
    pub upstreams: Vec<Upstream>,
    /// Balancing, protocol, TLS, health checks, re-resolution.
    pub reach: UpstreamOptions,
    /// Served without identity (and never with identity headers).
    pub public: bool,
    pub actions: Vec<ActionRule>,
    /// Requests decided on a project of their workspace; `None`: on the
    /// workspace.
    pub project: Option<ProjectConfig>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    /// How long an idle upstream connection stays in the keep-alive pool;
    /// `None`: [`crate::upstream::pool::DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Option<Duration>,
}

impl RouteConfig {
    /// The route of the single-`upstream` setting: everything, by default actions.
    pub fn default_for(upstream: Upstream) -> Self {
        RouteConfig {
            name: "app".to_string(),
            host: None,
            path_prefix: "/".to_string(),
            upstreams: vec![upstream],
            reach: UpstreamOptions::default(),
            public: false,
            actions: Vec::new(),
            project: None,
            connect_timeout: None,
            read_timeout: None,
            idle_timeout: None,
        }
    }
}
