//! Tenancy API helpers: a team workspace with members, the whole audit log,
//! a snapshot of what a workspace holds, and checks of refusals.

use super::TestResult;
use super::http::{Api, User};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The `code` of a problem+json answer.
pub fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The ids of a list of JSON objects, in order.
pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

/// A response header as text, if it is there.
pub fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A `400` about `field`: its code, the field, and a sentence naming it.
pub fn assert_bad_input(what: &str, status: StatusCode, body: &Value, want: &str, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(code(body), want, "{what}: {body}");
    assert_eq!(body["field"].as_str(), Some(field), "{what}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("`{field}`")),
        "{what}: the sentence does not name `{field}`: {detail}"
    );
}

impl Api {
    /// A team workspace owned by `owner`: its id.
    pub async fn team(&self, owner: &User, name: &str) -> TestResult<String> {
        let (s, b) = self
            .call(
                Method::POST,
                "/workspaces",
                &owner.token,
                Some(json!({ "name": name })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        Ok(b["workspace"]["id"]
            .as_str()
            .ok_or("workspace id")?
            .to_string())
    }

    /// Invite `user` into `workspace` as `role` (by `inviter`) and accept.
    pub async fn join(
        &self,
        workspace: &str,
        inviter: &str,
        user: &User,
        role: &str,
    ) -> TestResult {
        let (s, b) = self
            .call(
                Method::POST,
                &format!("/workspaces/{workspace}/invitations"),
                inviter,
                Some(json!({ "email": user.email, "role": role })),
            )
            .await?;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let token = b["token"].as_str().ok_or("invitation token")?;
        let (s, b) = self
            .call(
                Method::POST,
                &format!("/invitations/{token}/accept"),
                &user.token,
                None,
            )
            .await?;
        assert_eq!((s, b["role"].as_str()), (StatusCode::OK, Some(role)), "{b}");
        Ok(())
    }

    /// One resource list of `workspace` (`members`, `projects`, `api_keys`,
    /// `webhooks`, `deliveries`), which `token` must be allowed to read.
    pub async fn list(&self, workspace: &str, what: &str, token: &str) -> TestResult<Vec<Value>> {
        let path = match what {
            "api_keys" => "api-keys",
            "deliveries" => "webhooks/deliveries",
            other => other,
        };
        let (s, b) = self
            .call(
                Method::GET,
                &format!("/workspaces/{workspace}/{path}"),
                token,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
        Ok(b[what]
            .as_array()
            .ok_or(format!("no `{what}` in {b}"))?
            .clone())
    }

    /// Every audit row of `workspace` matching `filters` (`action=…&…`, or
    /// empty), oldest first, following the cursor.
    pub async fn audit(
        &self,
        workspace: &str,
        token: &str,
        filters: &str,
    ) -> TestResult<Vec<Value>> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/workspaces/{workspace}/audit?limit=500");
            if !filters.is_empty() {
                path.push('&');
                path.push_str(filters);
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (s, b) = self.call(Method::GET, &path, token, None).await?;
            assert_eq!(s, StatusCode::OK, "{path}: {b}");
            rows.extend(b["entries"].as_array().ok_or("entries")?.iter().cloned());
            match b["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(rows),
            }
        }
    }

    /// The one audit row of `workspace` with `action`.
    pub async fn only_row(&self, workspace: &str, token: &str, action: &str) -> TestResult<Value> {
        let rows = self
            .audit(workspace, token, &format!("action={action}"))
            .await?;
        assert_eq!(rows.len(), 1, "{action}: {rows:?}");
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    /// What `workspace` holds, as its owner reads it: the workspace,
    /// members, projects, keys, webhooks, deliveries and audit rows.
    pub async fn snapshot(&self, workspace: &str, owner: &str) -> TestResult<Value> {
        let (s, ws) = self
            .call(
                Method::GET,
                &format!("/workspaces/{workspace}"),
                owner,
                None,
            )
            .await?;
        assert_eq!(s, StatusCode::OK, "{ws}");
        let mut snapshot =
            json!({ "workspace": ws, "audit": self.audit(workspace, owner, "").await? });
        for what in ["members", "projects", "api_keys", "webhooks", "deliveries"] {
            snapshot[what] = json!(self.list(workspace, what, owner).await?);
        }
        Ok(snapshot)
    }
}

/// A project of `workspace` created by `owner`: its id.
pub async fn new_project(
    api: &Api,
    owner: &User,
    workspace: &str,
    name: &str,
) -> TestResult<String> {
    let (s, b) = api
        .call(
            Method::POST,
            &format!("/workspaces/{workspace}/projects"),
            &owner.token,
            Some(json!({ "name": name })),
        )
        .await?;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    Ok(b["project"]["id"].as_str().ok_or("project id")?.to_string())
}
