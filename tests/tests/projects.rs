//! Projects at the gateway: a route reads the project from the path (or a
//! header), Cedar decides on it with the member's project limits, and the
//! app is told the verified project. A project-limited member writes in
//! their project and nowhere else; a project of another workspace is 404;
//! every spelling of a project path decides as the canonical one; an
//! archived project turns read-only at two gateways within a second; an
//! API key limited to a project is held to it; a project link into another
//! workspace switches the session there.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wrnexus_e2e::TestResult;
use wrnexus_e2e::apps::{self, App};
use wrnexus_e2e::client::{
    User, create_workspace, email, http, join, json_body, raw_request, sign_up,
};
use wrnexus_e2e::process::{Proc, free_port, wait_ready};
use wrnexus_e2e::services;
use wrnexus_e2e::stack::{ASSERTION_KEY, GATEWAY_TOKEN, Stack};

fn routes(app_port: u16) -> String {
    format!(
        r#"
[[gateway.routes]]
name = "tracker"
path_prefix = "/tracker"
upstream = "http://127.0.0.1:{app_port}"
project_path = "/tracker/p/{{project_id}}"

[[gateway.routes]]
name = "tracker-api"
path_prefix = "/api"
upstream = "http://127.0.0.1:{app_port}"
project_header = "X-Tracker-Project"
project_required = true

[[gateway.routes]]
name = "deep"
path_prefix = "/w"
upstream = "http://127.0.0.1:{app_port}"
project_path = "/w/{{workspace_id}}/p/{{project_id}}"
"#
    )
}

/// A second gateway on the same config file (same control plane, Redis
/// and routes): `(base url, process)`.
async fn second_gateway(stack: &Stack) -> TestResult<(String, Proc)> {
    let (gw, admin) = (free_port()?, free_port()?);
    let config = stack.dir.path().join("gateway.toml").display().to_string();
    let listen = format!("127.0.0.1:{gw}");
    let admin_listen = format!("127.0.0.1:{admin}");
    let mut proc = Proc::spawn(
        &format!("gateway-{gw}"),
        stack.dir.path(),
        &["gateway", "--config", &config],
        &[
            ("WRNEXUS_GATEWAY__LISTEN", &listen),
            ("WRNEXUS_GATEWAY__ADMIN_LISTEN", &admin_listen),
            ("WRNEXUS_ASSERTION_KEY", ASSERTION_KEY),
            ("WRNEXUS_GATEWAY_TOKEN", GATEWAY_TOKEN),
        ],
    )?;
    wait_ready(
        &format!("http://{admin_listen}/ready"),
        &mut proc,
        Duration::from_secs(60),
    )
    .await?;
    Ok((format!("http://{listen}"), proc))
}

async fn create_project(gw: &str, owner: &User, workspace: &str, name: &str) -> TestResult<String> {
    let response = owner
        .req(
            &http(),
            Method::POST,
            &format!("{gw}/.wrnexus/api/v1/workspaces/{workspace}/projects"),
        )
        .json(&json!({ "name": name }))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["project"]["id"]
        .as_str()
        .or_else(|| body["id"].as_str())
        .ok_or(format!("no project id in {body}"))?;
    Ok(id.to_string())
}

async fn call(
    user: &User,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> TestResult<(StatusCode, Value)> {
    let mut request = user
        .req(&http(), method, url)
        .header("accept", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    json_body(request.send().await?).await
}

#[tokio::test]
async fn project_limited_members_work_in_their_projects_only() -> TestResult {
    let Some(database_url) = services::fresh_postgres().await? else {
        return Ok(());
    };
    if services::redis().await?.is_none() {
        return Ok(());
    }
    let (app, app_port) = apps::serve(App::new("tracker"), axum::Router::new()).await?;
    let stack = Stack::routed(&database_url, &services::redis_url(), &routes(app_port)).await?;
    let result = flows(&stack, &app).await;
    if result.is_err() {
        eprintln!("{}", stack.logs());
    }
    result
}

async fn flows(stack: &Stack, app: &App) -> TestResult {
    let gw = stack.gateway.as_str();
    let c = http();
    let owner = sign_up(&c, gw, &email("proj-owner")).await?;
    let mut limited = sign_up(&c, gw, &email("proj-limited")).await?;
    let team = create_workspace(&c, gw, &owner, "Tracker team").await?;
    let mine = create_project(gw, &owner, &team, "mine").await?;
    let theirs = create_project(gw, &owner, &team, "theirs").await?;
    let elsewhere_ws = create_workspace(&c, gw, &owner, "Elsewhere").await?;
    let elsewhere = create_project(gw, &owner, &elsewhere_ws, "elsewhere").await?;
    join(&c, gw, &owner, &mut limited, &team, "member").await?;
    let response = owner
        .req(
            &c,
            Method::PATCH,
            &format!(
                "{gw}/.wrnexus/api/v1/workspaces/{team}/members/{}",
                limited.id
            ),
        )
        .json(&json!({ "projects": [mine] }))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Writes in their project: allowed, and the app is told the project.
    let url = |p: &str| format!("{gw}/tracker/p/{p}/tasks");
    let before = app.hits();
    let (status, echo) = call(&limited, Method::POST, &url(&mine), &[]).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["headers"]["x-project-id"], mine.as_str());
    assert_eq!(echo["headers"]["x-workspace-id"], team.as_str());
    let assertion = echo["headers"]["x-wrnexus-assertion"]
        .as_str()
        .ok_or("no assertion")?;
    let claims = wrnexus_e2e::tokens::claims_of(assertion)?;
    assert_eq!(claims["pid"], mine.as_str());
    // A client's own X-Project-Id (any spelling) never reaches the app.
    let (_, echo) = call(
        &limited,
        Method::GET,
        &url(&mine),
        &[("x_project_id", &theirs)],
    )
    .await?;
    assert_eq!(echo["headers"]["x-project-id"], mine.as_str(), "{echo}");
    assert!(echo["headers"].get("x_project_id").is_none(), "{echo}");

    // Another project of the workspace: refused with a decision id.
    let (status, body) = call(&limited, Method::POST, &url(&theirs), &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "project_not_granted");
    assert!(body["decision_id"].is_string(), "{body}");
    let (status, body) = call(&limited, Method::GET, &url(&theirs), &[]).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("project_not_granted"))
    );
    // A project of another workspace, or none at all: 404.
    for p in [elsewhere.as_str(), "no-such-project"] {
        let (status, body) = call(&limited, Method::GET, &url(p), &[]).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{p}: {body}");
        assert_eq!(body["code"], "no_such_project");
    }
    // Outside any project, the workspace itself: read, not write.
    let (status, _) = call(&limited, Method::GET, &format!("{gw}/tracker/home"), &[]).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&limited, Method::POST, &format!("{gw}/tracker/home"), &[]).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "project_not_granted");
    assert_eq!(app.hits(), before + 3);

    // Spellings of the same path decide as the canonical one.
    for path in [
        format!("/tracker/p/{theirs}/./tasks"),
        format!("/tracker/%70/{theirs}/tasks"),
        format!("/TRACKER/P/{theirs}/tasks"),
    ] {
        let (status, text) = raw_request(gw, &path, &limited.cookie).await?;
        assert!(
            status == 403 || status == 400,
            "{path} answered {status}: {text}"
        );
    }
    let (status, text) =
        raw_request(gw, &format!("/tracker/%70/{mine}/tasks"), &limited.cookie).await?;
    assert_eq!(status, 200, "{text}");

    // A header names the project; the route needs one.
    let api = format!("{gw}/api/items");
    let (status, body) = call(&limited, Method::POST, &api, &[]).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("project_required"))
    );
    let (status, echo) = call(
        &limited,
        Method::POST,
        &api,
        &[("X-Tracker-Project", &mine)],
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["headers"]["x-project-id"], mine.as_str());

    // An API key limited to a project.
    let key = project_key(gw, &owner, &team, &mine).await?;
    for (project, want) in [(&mine, StatusCode::OK), (&theirs, StatusCode::FORBIDDEN)] {
        let response = http()
            .post(url(project))
            .bearer_auth(&key)
            .header("accept", "application/json")
            .send()
            .await?;
        assert_eq!(response.status(), want, "{project}");
    }

    // A project link into another of one's workspaces switches the session
    // there, as a workspace link does, and decides on the project; someone
    // else following it learns nothing.
    let link = format!("{gw}/w/{elsewhere_ws}/p/{elsewhere}/board");
    let response = owner
        .req(&c, Method::GET, &link)
        .header("accept", "application/json")
        .send()
        .await?;
    let switched = wrnexus_e2e::client::session_set_cookie(&response).is_some();
    let (status, echo) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert!(
        switched,
        "the session was not switched to the linked workspace"
    );
    assert_eq!(echo["headers"]["x-workspace-id"], elsewhere_ws.as_str());
    assert_eq!(echo["headers"]["x-project-id"], elsewhere.as_str());
    let (status, _) = call(&limited, Method::GET, &link, &[]).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    archived_at_two_gateways(stack, &owner, &limited, &team, &mine).await
}

/// A key with the `member` ceiling limited to `project`: its secret.
async fn project_key(gw: &str, owner: &User, team: &str, project: &str) -> TestResult<String> {
    let response = owner
        .req(
            &http(),
            Method::POST,
            &format!("{gw}/.wrnexus/api/v1/workspaces/{team}/api-keys"),
        )
        .json(&json!({ "name": "ci", "role": "member", "projects": [project] }))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(body["secret"]
        .as_str()
        .or_else(|| body["key"]["secret"].as_str())
        .ok_or(format!("no secret in {body}"))?
        .to_string())
}

/// Archiving the project turns it read-only at both gateways within a
/// second; reads go on.
async fn archived_at_two_gateways(
    stack: &Stack,
    owner: &User,
    limited: &User,
    team: &str,
    project: &str,
) -> TestResult {
    let gw = stack.gateway.as_str();
    let (second, _proc) = second_gateway(stack).await?;
    let url = |base: &str| format!("{base}/tracker/p/{project}/tasks");
    for base in [gw, second.as_str()] {
        let (status, _) = call(limited, Method::POST, &url(base), &[]).await?;
        assert_eq!(status, StatusCode::OK, "{base}");
    }
    let response = owner
        .req(
            &http(),
            Method::PATCH,
            &format!("{gw}/.wrnexus/api/v1/workspaces/{team}/projects/{project}"),
        )
        .json(&json!({ "archived": true }))
        .send()
        .await?;
    let (status, body) = json_body(response).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let archived = Instant::now();
    for base in [gw, second.as_str()] {
        loop {
            let (status, body) = call(limited, Method::POST, &url(base), &[]).await?;
            if status == StatusCode::FORBIDDEN {
                assert_eq!(body["code"], "project_archived", "{body}");
                break;
            }
            assert!(
                archived.elapsed() < Duration::from_secs(1),
                "{base} still let a write into the archived project"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (status, _) = call(limited, Method::GET, &url(base), &[]).await?;
        assert_eq!(status, StatusCode::OK, "{base}: reads go on");
    }
    Ok(())
}
