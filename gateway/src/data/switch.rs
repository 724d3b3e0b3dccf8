//! Switching workspace on a deep link: the control plane re-issues the
//! session cookie in place (same session, new `wid`) and records the
//! last-used workspace; the gateway hands the new cookie to the browser.

use crate::data::resolve::Resolver;
use http::header::SET_COOKIE;

impl Resolver {
    /// Ask the control plane to switch the bearer's session to
    /// `workspace_id`; the `Set-Cookie` value to pass on, if it did.
    pub async fn switch_cookie(&self, workspace_id: &str, token: &str) -> Option<String> {
        let url = format!("{}/.wrnexus/switch", self.control_plane_url);
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "workspace_id": workspace_id }))
            .send()
            .await
            .map_err(|e| tracing::warn!(error = %e.without_url(), "switching workspace failed"))
            .ok()?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "switching workspace refused");
            return None;
        }
        response
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}
