//! RP-initiated logout: a browser signing out of a session that came from a
//! provider with an end-session endpoint is sent there, and back to the
//! sign-in page.

use super::AppState;
use super::sso_flow::{self as flow, Door};
use crate::store::sessions::Session;

/// Where a browser signing out of `session` goes next: the provider's
/// end-session endpoint (RP-initiated logout) when the session came from a
/// provider that has one, coming back to the sign-in page.
pub async fn end_session_url(state: &AppState, session: &Session) -> Option<String> {
    let idp = session.signed_in.idp.as_ref()?;
    let door = match &session.signed_in.sso_workspace_id {
        Some(workspace_id) => {
            let connection = state.store.sso_connection(workspace_id).await.ok()??;
            (connection.issuer == idp.issuer).then_some(Door::Workspace {
                connection: Box::new(connection),
                client_secret: String::new(),
            })?
        }
        None => Door::Instance(
            state
                .config
                .sso
                .oidc_providers
                .iter()
                .find(|p| p.issuer == idp.issuer)?
                .clone(),
        ),
    };
    let provider = state
        .sso
        .providers
        .discover(
            state.sso.http(door.guarded()),
            door.guarded(),
            door.issuer(),
        )
        .await
        .ok()?;
    let endpoint = provider
        .metadata
        .additional_metadata()
        .end_session_endpoint
        .as_ref()?;
    let back = state.config.link(flow::SIGNED_OUT_PATH);
    let mut url = endpoint.url().clone();
    url.query_pairs_mut()
        .append_pair("client_id", door.client_id())
        .append_pair("post_logout_redirect_uri", &back);
    Some(url.to_string())
}
