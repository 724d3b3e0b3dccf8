//! Admission: the control plane's paths pass to it; an app route is found;
//! a public one passes without identity; any other needs a credential
//! (session cookie or API key) that Cedar allows there. What is admitted
//! is what the later phases act on; nothing else lets a request through.

use crate::authn::api_key;
use crate::ops::access_notes::Credential;
use crate::proxy::ctx::{Admitted, Ctx, Routed};
use crate::proxy::gateway::Gateway;
use crate::refusal::Refusal;
use crate::request::path;
use pingora::http::RequestHeader;
use wrnexus_policies::invariants::CONTROL_PLANE_PREFIX;

/// Whether, and as what, a request may pass.
pub(crate) type Verdict = Result<Admitted, Refusal>;

impl Gateway {
    /// Decide whether (and as whom) a request may reach its upstream.
    pub(crate) async fn admit(&self, req: &RequestHeader, ctx: &mut Ctx) -> Verdict {
        // Canonical already (see `prepare::canonical_target`).
        let path = req.uri.path();
        if path::under(path, CONTROL_PLANE_PREFIX) {
            ctx.routed = Routed::ControlPlane;
            return Ok(Admitted::ControlPlane);
        }
        let host = req.uri.host().or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        });
        let app = self
            .routes
            .find(host, path)
            .cloned()
            .ok_or(Refusal::NoRoute)?;
        ctx.routed = Routed::App(app.index());
        if app.is_public() {
            return Ok(Admitted::Public(app));
        }
        let (identity, set_cookie) = match api_key::presented(&req.headers) {
            Some(key) => {
                ctx.access.credential = Credential::ApiKey;
                (self.admit_key(req, &app, key, ctx).await?, None)
            }
            None => self.admit_session(req, &app, ctx).await?,
        };
        Ok(Admitted::Allowed {
            app,
            identity,
            set_cookie,
        })
    }
}
