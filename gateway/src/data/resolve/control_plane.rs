//! Decision data asked of the control plane on a miss: about the bearer
//! only, in the trace of the request that asked.

use super::{Ask, FailCause, ResolveError, Resolver, Unavailable};
use crate::upstream::trace_context::{self, Layer};
use wrnexus_policies::DecisionData;

impl Resolver {
    pub(super) async fn ask_control_plane(
        &self,
        ask: &Ask<'_>,
    ) -> Result<DecisionData, ResolveError> {
        trace_context::asked(Layer::ControlPlane);
        let url = format!("{}/v1/internal/decision-data", self.control_plane_url);
        let unavailable = |e: reqwest::Error| {
            ResolveError::Unavailable(Unavailable::new(
                FailCause::ControlPlane,
                format!("control plane: {}", e.without_url()),
            ))
        };
        let (request, project_id) = match ask {
            Ask::Session {
                workspace_id,
                token,
                project_id,
            } => (
                self.http
                    .get(url)
                    .query(&[("workspace_id", workspace_id)])
                    .bearer_auth(token),
                project_id,
            ),
            Ask::Key { token, project_id } => (self.http.get(url).bearer_auth(token), project_id),
        };
        let request = match project_id {
            Some(id) => request.query(&[("project_id", id)]),
            None => request,
        };
        let request = match trace_context::outgoing() {
            Some(parent) => request.header(trace_context::TRACEPARENT, parent),
            None => request,
        };
        let response = request.send().await.map_err(unavailable)?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ResolveError::Revoked);
        }
        response
            .error_for_status()
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}
