//! The workspace console: static pages under `/.wrnexus/console/` (one HTML
//! shell, plain ES modules and a stylesheet from `control-plane/assets/console/`)
//! that work through the same JSON API (`/.wrnexus/api/v1/…`, session
//! cookie, same-origin writes) and the same Cedar decisions as every other
//! client. Signed-out visitors go to sign-in and come back.
//!
//! URLs: `/.wrnexus/console` (to the session's workspace),
//! `/.wrnexus/console/w/{workspace_id}/{section}` and `/.wrnexus/console/account`.

use super::AppState;
use super::actor::Actor;
use super::error::ApiError;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::hash::{DefaultHasher, Hash, Hasher};
use wrnexus_policies::redirect::encode_query_value;

/// Where the console lives.
pub const PREFIX: &str = "/.wrnexus/console";

/// The sections of a workspace, as the URL names them.
pub const SECTIONS: [&str; 8] = [
    "overview", "members", "projects", "api-keys", "webhooks", "audit", "billing", "sso",
];

/// The page every console URL serves; its script draws the section.
const SHELL: &str = include_str!("../../assets/console/index.html");

/// The scripts and the stylesheet, by the name they are served under.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/console/console.css"),
    ),
    (
        "console.js",
        JS,
        include_str!("../../assets/console/console.js"),
    ),
    (
        "client.js",
        JS,
        include_str!("../../assets/console/client.js"),
    ),
    ("dom.js", JS, include_str!("../../assets/console/dom.js")),
    (
        "overview.js",
        JS,
        include_str!("../../assets/console/overview.js"),
    ),
    (
        "members.js",
        JS,
        include_str!("../../assets/console/members.js"),
    ),
    (
        "projects.js",
        JS,
        include_str!("../../assets/console/projects.js"),
    ),
    ("keys.js", JS, include_str!("../../assets/console/keys.js")),
    (
        "webhooks.js",
        JS,
        include_str!("../../assets/console/webhooks.js"),
    ),
    (
        "audit.js",
        JS,
        include_str!("../../assets/console/audit.js"),
    ),
    (
        "billing.js",
        JS,
        include_str!("../../assets/console/billing.js"),
    ),
    (
        "account.js",
        JS,
        include_str!("../../assets/console/account.js"),
    ),
    ("sso.js", JS, include_str!("../../assets/console/sso.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Scripts and styles only from this origin; no inline code, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// Assets are revalidated after five minutes (a 304 costs no body).
const ASSET_CACHE: &str = "public, max-age=300, must-revalidate";

/// The console's routes (merged into the control plane's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PREFIX, get(home))
        .route(&format!("{PREFIX}/"), get(home))
        .route(&format!("{PREFIX}/account"), get(shell))
        .route(&format!("{PREFIX}/w/{{workspace_id}}"), get(workspace_home))
        .route(
            &format!("{PREFIX}/w/{{workspace_id}}/{{section}}"),
            get(section),
        )
        .route(&format!("{PREFIX}/assets/{{name}}"), get(asset))
        .route(&format!("{PREFIX}/theme.css"), get(theme))
}

/// `GET /.wrnexus/console/theme.css`: the operator's `console.css` from
/// `pages_dir` (empty without one), loaded after the console's own styles.
async fn theme(State(state): State<AppState>) -> Response {
    let body = state
        .config
        .pages
        .console_theme()
        .cloned()
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The sign-in page, coming back to `here`.
fn to_signin(here: &str) -> Response {
    Redirect::to(&format!(
        "/.wrnexus/signin?return_to={}",
        encode_query_value(here)
    ))
    .into_response()
}

/// A signed-out visitor goes to sign-in; other failures are answered.
fn signed_out(error: ApiError, here: &str) -> Response {
    if error.status == StatusCode::UNAUTHORIZED {
        to_signin(here)
    } else {
        error.into_response()
    }
}

/// The path and query of a request, to come back to.
fn here(request: &Request) -> String {
    request
        .uri()
        .path_and_query()
        .map_or_else(|| PREFIX.to_string(), |p| p.as_str().to_string())
}

/// The shell: no caching, a strict CSP, not framed.
fn shell_response(status: StatusCode) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        SHELL,
    )
        .into_response()
}

/// `GET /.wrnexus/console`: the session's current workspace.
async fn home(actor: Result<Actor, ApiError>) -> Response {
    match actor {
        Ok(actor) => {
            Redirect::to(&format!("{PREFIX}/w/{}/overview", actor.workspace_id)).into_response()
        }
        Err(e) => signed_out(e, PREFIX),
    }
}

/// `GET /.wrnexus/console/w/{id}`: its overview.
async fn workspace_home(
    actor: Result<Actor, ApiError>,
    Path(workspace_id): Path<String>,
) -> Response {
    let target = format!("{PREFIX}/w/{}/overview", encode_query_value(&workspace_id));
    match actor {
        Ok(_) => Redirect::to(&target).into_response(),
        Err(e) => signed_out(e, &target),
    }
}

/// `GET /.wrnexus/console/account`: the page, signed in.
async fn shell(actor: Result<Actor, ApiError>, request: Request) -> Response {
    match actor {
        Ok(_) => shell_response(StatusCode::OK),
        Err(e) => signed_out(e, &here(&request)),
    }
}

/// `GET /.wrnexus/console/w/{id}/{section}`: the page, signed in. Whether
/// the person is a member is the API's to say (the page shows its 404).
async fn section(
    actor: Result<Actor, ApiError>,
    Path((_, section)): Path<(String, String)>,
    request: Request,
) -> Response {
    match actor {
        Ok(_) if SECTIONS.contains(&section.as_str()) => shell_response(StatusCode::OK),
        Ok(_) => shell_response(StatusCode::NOT_FOUND),
        Err(e) => signed_out(e, &here(&request)),
    }
}

/// A strong entity tag of an asset.
fn etag(body: &str) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// `GET /.wrnexus/console/assets/{name}`: a script or the stylesheet.
async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found("asset").into_response();
    };
    let tag = etag(body);
    let tag_value = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE)),
        (header::ETAG, tag_value),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let revalidated = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().trim_start_matches("W/") == tag);
    if revalidated {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        *body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_scripts_import_is_served() {
        for (_, _, body) in ASSETS {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let name = line
                    .rsplit('/')
                    .next()
                    .map(|n| n.trim_end_matches(['"', ';', '\'']))
                    .unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == name),
                    "`{line}` names an asset that is not served"
                );
            }
        }
    }

    #[test]
    fn the_shell_loads_only_served_assets_and_no_inline_script() {
        assert!(!SHELL.contains("<script>"), "inline script in the shell");
        assert!(!SHELL.contains("style="), "inline style in the shell");
        assert!(SHELL.contains("/.wrnexus/console/assets/console.js"));
        assert!(SHELL.contains("/.wrnexus/console/assets/console.css"));
    }
}
