//! The load benchmark's adapter between nginx `auth_request` and Cerbos (`cerbos-authz` in `benches/load/run.sh`).
//!
//! nginx sends each request's subrequest here, with the original headers (the
//! session cookie among them) and the original method and URI as
//! `X-Original-Method` and `X-Original-URI`. The adapter finds the principal
//! of the session cookie in a fixed in-memory table given on the command
//! line (its role, the workspace it is a member of and that workspace's
//! status), maps the method to an action as the gateway does (GET, HEAD and
//! OPTIONS read, anything else writes), asks Cerbos
//! (`POST /api/check/resources`, over a keep-alive connection pool) and
//! answers `204` when Cerbos allows, `403` when it denies, `401` for a
//! session it does not know.
//!
//! It is cheaper than a real authorizer: it neither verifies the session's
//! token nor looks the membership up anywhere, it only reads the table.
//!
//! ```text
//! cerbos_adapter --listen 127.0.0.1:PORT --cerbos http://127.0.0.1:PORT \
//!     [--cookie-name NAME] [--threads N] --principal VALUE,ID,ROLE,WORKSPACE,STATUS ...
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};

/// One row of the table: who a session cookie stands for.
#[derive(Debug)]
struct Principal {
    id: String,
    role: String,
    workspace: String,
    status: String,
}

struct Adapter {
    cookie_name: String,
    principals: HashMap<String, Principal>,
    check_url: String,
    client: reqwest::Client,
}

/// The body of Cerbos's `POST /api/check/resources`: one principal, one
/// resource (the workspace the request is made in), one action.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckResources<'a> {
    principal: PrincipalBody<'a>,
    resources: [ResourceEntry<'a>; 1],
}

#[derive(Serialize)]
struct PrincipalBody<'a> {
    id: &'a str,
    roles: [&'a str; 1],
    attr: PrincipalAttr<'a>,
}

#[derive(Serialize)]
struct PrincipalAttr<'a> {
    workspace: &'a str,
}

#[derive(Serialize)]
struct ResourceEntry<'a> {
    actions: [&'a str; 1],
    resource: Resource<'a>,
}

#[derive(Serialize)]
struct Resource<'a> {
    kind: &'a str,
    id: &'a str,
    attr: ResourceAttr<'a>,
}

#[derive(Serialize)]
struct ResourceAttr<'a> {
    status: &'a str,
}

/// The part of Cerbos's answer read here: each resource's effect per action.
#[derive(Deserialize)]
struct CheckResourcesResult {
    results: Vec<ResultEntry>,
}

#[derive(Deserialize)]
struct ResultEntry {
    actions: HashMap<String, String>,
}

/// The value of cookie `name` in a `Cookie` header, if it is there.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// The gateway's default mapping: safe methods read, everything else writes.
fn action(method: &str) -> &'static str {
    match method {
        "GET" | "HEAD" | "OPTIONS" => "read",
        _ => "write",
    }
}

async fn authorize(State(adapter): State<Arc<Adapter>>, headers: HeaderMap) -> StatusCode {
    let principal = headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| cookie(value, &adapter.cookie_name))
        .and_then(|value| adapter.principals.get(value));
    let Some(principal) = principal else {
        return StatusCode::UNAUTHORIZED;
    };
    let method = headers
        .get("x-original-method")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("GET");
    let action = action(method);
    match check(&adapter, principal, action).await {
        Ok(true) => StatusCode::NO_CONTENT,
        Ok(false) => StatusCode::FORBIDDEN,
        Err(error) => {
            eprintln!("cerbos_adapter: {error:#}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Asks Cerbos whether `principal` may do `action` in its workspace.
async fn check(adapter: &Adapter, principal: &Principal, action: &str) -> anyhow::Result<bool> {
    let body = serde_json::to_vec(&CheckResources {
        principal: PrincipalBody {
            id: &principal.id,
            roles: [&principal.role],
            attr: PrincipalAttr {
                workspace: &principal.workspace,
            },
        },
        resources: [ResourceEntry {
            actions: [action],
            resource: Resource {
                kind: "workspace",
                id: &principal.workspace,
                attr: ResourceAttr {
                    status: &principal.status,
                },
            },
        }],
    })?;
    let response = adapter
        .client
        .post(&adapter.check_url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "Cerbos answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let answer: CheckResourcesResult = serde_json::from_slice(&bytes)?;
    let effect = answer
        .results
        .first()
        .and_then(|result| result.actions.get(action))
        .ok_or_else(|| anyhow!("no effect for {action} in Cerbos's answer"))?;
    Ok(effect == "EFFECT_ALLOW")
}

struct Options {
    listen: SocketAddr,
    adapter: Adapter,
    threads: usize,
}

fn parse_principal(spec: &str) -> anyhow::Result<(String, Principal)> {
    let fields: Vec<&str> = spec.split(',').collect();
    let [value, id, role, workspace, status] = fields[..] else {
        bail!("--principal {spec}: expected VALUE,ID,ROLE,WORKSPACE,STATUS");
    };
    let principal = Principal {
        id: id.to_string(),
        role: role.to_string(),
        workspace: workspace.to_string(),
        status: status.to_string(),
    };
    Ok((value.to_string(), principal))
}

fn options() -> anyhow::Result<Options> {
    let mut listen = None;
    let mut cerbos = None;
    let mut cookie_name = "__Host-wrnexus_session".to_string();
    let mut threads = 1;
    let mut principals = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().context("--listen")?),
            "--cerbos" => cerbos = Some(value.trim_end_matches('/').to_string()),
            "--cookie-name" => cookie_name = value,
            "--threads" => threads = value.parse().context("--threads")?,
            "--principal" => {
                let (value, principal) = parse_principal(&value)?;
                principals.insert(value, principal);
            }
            _ => bail!("unknown option {flag}"),
        }
    }
    let cerbos = cerbos.context("--cerbos http://HOST:PORT is required")?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(None)
        .build()?;
    Ok(Options {
        listen: listen.context("--listen ADDRESS is required")?,
        adapter: Adapter {
            cookie_name,
            principals,
            check_url: format!("{cerbos}/api/check/resources"),
            client,
        },
        threads,
    })
}

async fn serve(listen: SocketAddr, adapter: Adapter) -> anyhow::Result<()> {
    let app = Router::new()
        .fallback(authorize)
        .with_state(Arc::new(adapter));
    let listener = tokio::net::TcpListener::bind(listen)
        .await?
        .tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                eprintln!("cerbos_adapter: TCP_NODELAY: {error}");
            }
        });
    axum::serve(listener, app).await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let Options {
        listen,
        adapter,
        threads,
    } = options()?;
    // One thread (the benchmark pins the adapter to one core): no hand-off
    // between threads; more only when asked.
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(listen, adapter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie() {
        let header = "a=1; __Host-wrnexus_session=tok.en; b=2";
        assert_eq!(cookie(header, "__Host-wrnexus_session"), Some("tok.en"));
        assert_eq!(cookie(header, "c"), None);
    }

    #[test]
    fn maps_methods_as_the_gateway() {
        assert_eq!(action("GET"), "read");
        assert_eq!(action("OPTIONS"), "read");
        assert_eq!(action("POST"), "write");
    }

    #[test]
    fn parses_a_principal() -> anyhow::Result<()> {
        let (value, principal) = parse_principal("v,alice,owner,ws1,active")?;
        assert_eq!(value, "v");
        assert_eq!(principal.role, "owner");
        assert!(parse_principal("v,alice").is_err());
        Ok(())
    }
}
