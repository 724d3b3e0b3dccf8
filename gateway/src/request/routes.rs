//! The routing table: which app behind the gateway serves a request (by
//! host and path prefix), whether it needs an identity, and which Cedar
//! action a method and path map to.

use crate::config::{ActionRule, RouteConfig, Upstream};
use crate::request::path::{self, under};
use crate::request::project::RouteProject;
use crate::upstream::discovery::Resolve;
use crate::upstream::pool::{PoolError, UpstreamPool};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use wrnexus_policies::Action;

/// Why a routing table cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route `{route}`: path prefix `{prefix}` must be a canonical path starting with `/`")]
    BadPrefix { route: String, prefix: String },
    #[error("route `{route}`: action `{action}` is not declared in the policies' schema")]
    UnknownAction { route: String, action: String },
    #[error("routes `{first}` and `{second}` have the same host and path prefix")]
    Duplicate { first: String, second: String },
    #[error("route `{route}`: upstream `{address}` does not resolve")]
    Unresolvable { route: String, address: String },
    /// A TLS file or health check setting of the route, at `key`.
    #[error("route `{route}`: `{key}`: {message}")]
    Upstream {
        route: String,
        key: &'static str,
        message: String,
    },
    #[error("route names must be unique and non-empty: `{0}`")]
    BadName(String),
    #[error("route `{route}`: action `{action}` is not declared in the shadow policies' schema")]
    UnknownShadowAction { route: String, action: String },
    #[error("route `{route}`: {source}")]
    Project {
        route: String,
        source: crate::request::project::ProjectSettingError,
    },
}

/// An action a route decides requests with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionUse {
    pub route: String,
    pub action: String,
}

impl std::fmt::Display for ActionUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "route `{}` uses action `{}`", self.route, self.action)
    }
}

/// A route ready to serve.
#[derive(Debug, Clone)]
pub struct AppRoute {
    pub config: RouteConfig,
    /// Its upstreams: addresses, balance, health, TLS.
    pool: Arc<UpstreamPool>,
    host: Option<String>,
    /// Where its requests name their project, if they do.
    project: Option<RouteProject>,
    /// Its place in the table (see [`RouteTable::names`]).
    index: usize,
}

impl AppRoute {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Where its requests name their project; `None`: decided on the
    /// workspace.
    pub fn project(&self) -> Option<&RouteProject> {
        self.project.as_ref()
    }

    /// Its place in the table, the order of [`RouteTable::names`].
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn is_public(&self) -> bool {
        self.config.public
    }

    /// The Cedar action for `method` on `path`: the rule with the longest
    /// matching prefix (the first listed on ties), else safe methods read
    /// and the others write.
    pub fn action_for(&self, method: &str, path: &str) -> Action {
        let mut best: Option<&ActionRule> = None;
        for rule in &self.config.actions {
            let method_ok = rule.methods.is_empty()
                || rule.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
            if method_ok
                && under(path, &rule.path_prefix)
                && best.is_none_or(|b| rule.path_prefix.len() > b.path_prefix.len())
            {
                best = Some(rule);
            }
        }
        best.map_or_else(|| Action::for_method(method), |r| Action(r.action.clone()))
    }

    /// Its upstreams: the next request's peer comes from here.
    pub fn pool(&self) -> &Arc<UpstreamPool> {
        &self.pool
    }
}

/// The host a request names, lowercased, without port.
pub fn request_host(host_header: Option<&str>) -> Option<String> {
    bare_host(host_header).map(str::to_ascii_lowercase)
}

/// The host a request names, without port or trailing dot, as written.
fn bare_host(host_header: Option<&str>) -> Option<&str> {
    let host = host_header?.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    (!bare.is_empty()).then(|| bare.trim_end_matches('.'))
}

/// Every route, host-specific first, longest prefix first.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Arc<AppRoute>>,
}

impl RouteTable {
    /// [`Self::build_with`] on fixed addresses: `resolve` turns each
    /// upstream into one address, once (tests, fuzzing; names are never
    /// resolved again).
    pub fn build(
        configs: Vec<RouteConfig>,
        knows_action: impl Fn(&str) -> bool,
        resolve: impl Fn(&Upstream) -> Option<SocketAddr>,
    ) -> Result<Self, RouteError> {
        let fixed: HashMap<Upstream, SocketAddr> = configs
            .iter()
            .flat_map(|c| c.upstreams.iter())
            .filter_map(|u| resolve(u).map(|addr| (u.clone(), addr)))
            .collect();
        let resolve: Resolve = Arc::new(move |upstream: &Upstream| {
            fixed
                .get(upstream)
                .map(|addr| vec![*addr])
                .ok_or_else(|| std::io::Error::other("no address"))
        });
        Self::build_with(configs, knows_action, resolve)
    }

    /// Check and order `configs`, and set up each route's upstreams (TLS
    /// files read, every upstream resolved). `knows_action` says whether
    /// the policies declare an action; `resolve` turns an upstream into its
    /// addresses, at start and whenever names are resolved again.
    pub fn build_with(
        configs: Vec<RouteConfig>,
        knows_action: impl Fn(&str) -> bool,
        resolve: Resolve,
    ) -> Result<Self, RouteError> {
        let mut routes: Vec<AppRoute> = Vec::with_capacity(configs.len());
        for config in configs {
            if config.name.is_empty() || routes.iter().any(|r| r.config.name == config.name) {
                return Err(RouteError::BadName(config.name));
            }
            let prefixes = std::iter::once(&config.path_prefix)
                .chain(config.actions.iter().map(|a| &a.path_prefix));
            for prefix in prefixes {
                // A prefix is matched against canonical paths: one that is
                // not canonical itself would never match as written.
                if !prefix.starts_with('/')
                    || path::canonical(prefix).map_or(true, |c| c != prefix.as_str())
                {
                    return Err(RouteError::BadPrefix {
                        route: config.name.clone(),
                        prefix: prefix.clone(),
                    });
                }
            }
            if let Some(rule) = config.actions.iter().find(|a| !knows_action(&a.action)) {
                return Err(RouteError::UnknownAction {
                    route: config.name.clone(),
                    action: rule.action.clone(),
                });
            }
            let host = request_host(config.host.as_deref());
            if let Some(other) = routes.iter().find(|r| {
                r.host == host
                    && r.config
                        .path_prefix
                        .eq_ignore_ascii_case(&config.path_prefix)
            }) {
                return Err(RouteError::Duplicate {
                    first: other.config.name.clone(),
                    second: config.name,
                });
            }
            let pool = UpstreamPool::build(&config, resolve.clone()).map_err(|e| match e {
                PoolError::Unresolvable(u) => RouteError::Unresolvable {
                    route: config.name.clone(),
                    address: u.address,
                },
                other => RouteError::Upstream {
                    route: config.name.clone(),
                    key: other.key(),
                    message: other.to_string(),
                },
            })?;
            let project = match &config.project {
                Some(p) => Some(RouteProject::new(p).map_err(|source| RouteError::Project {
                    route: config.name.clone(),
                    source,
                })?),
                None => None,
            };
            routes.push(AppRoute {
                config,
                pool: Arc::new(pool),
                host,
                project,
                index: 0,
            });
        }
        routes.sort_by(|a, b| {
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.config.path_prefix.len().cmp(&a.config.path_prefix.len()))
        });
        for (index, route) in routes.iter_mut().enumerate() {
            route.index = index;
        }
        Ok(RouteTable {
            routes: routes.into_iter().map(Arc::new).collect(),
        })
    }

    /// The routes' names, in table order (a route's [`AppRoute::index`]).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.name())
    }

    /// Every route's upstreams, for their upkeep.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<UpstreamPool>> {
        self.routes.iter().map(|r| r.pool())
    }

    /// The route for a request: among routes naming its host, the longest
    /// matching prefix; failing that, the same among host-less routes.
    pub fn find(&self, host_header: Option<&str>, path: &str) -> Option<&Arc<AppRoute>> {
        let host = bare_host(host_header);
        let serves = |wanted: &Option<String>| match (wanted, host) {
            (None, _) => true,
            (Some(wanted), Some(host)) => wanted.eq_ignore_ascii_case(host),
            (Some(_), None) => false,
        };
        self.routes
            .iter()
            .find(|r| serves(&r.host) && under(path, &r.config.path_prefix))
    }

    /// The Cedar action for a request, or `None` when no route serves it.
    pub fn action_for(
        &self,
        host_header: Option<&str>,
        method: &str,
        path: &str,
    ) -> Option<Action> {
        self.find(host_header, path)
            .map(|r| r.action_for(method, path))
    }

    /// Every action requests are decided with, by route: for each route
    /// that decides (not public), `read` and `write` (the defaults by
    /// method) and each action its rules name. A policy set must declare
    /// all of them, or those requests fail closed as an unknown action.
    pub fn actions_in_use(&self) -> Vec<ActionUse> {
        let mut uses: Vec<ActionUse> = Vec::new();
        for route in self.routes.iter().filter(|r| !r.is_public()) {
            let named = route.config.actions.iter().map(|r| r.action.as_str());
            for action in [Action::READ, Action::WRITE].into_iter().chain(named) {
                let action_use = ActionUse {
                    route: route.config.name.clone(),
                    action: action.to_string(),
                };
                if !uses.contains(&action_use) {
                    uses.push(action_use);
                }
            }
        }
        uses
    }

    /// The uses of [`Self::actions_in_use`] whose action `knows_action`
    /// does not declare.
    pub fn undeclared(&self, knows_action: impl Fn(&str) -> bool) -> Vec<ActionUse> {
        self.actions_in_use()
            .into_iter()
            .filter(|u| !knows_action(&u.action))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
