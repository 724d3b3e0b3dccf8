//! The tower layer: verifies every request's assertion before the wrapped
//! service sees it, answers 401 problem+json to those that did not come
//! through the gateway, and puts the [`GatewayContext`] in the request
//! extensions for handlers (and the extractor) to read.

use crate::verifier::Verifier;
use axum::response::{IntoResponse, Response};
use http::Request;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Wraps a router or service so that only gateway-asserted requests reach
/// it: `Router::new().route(..).layer(GatewayLayer::new(verifier))`.
#[derive(Debug, Clone)]
pub struct GatewayLayer {
    verifier: Verifier,
}

impl GatewayLayer {
    pub fn new(verifier: Verifier) -> Self {
        GatewayLayer { verifier }
    }
}

impl<S> Layer<S> for GatewayLayer {
    type Service = GatewayService<S>;

    fn layer(&self, inner: S) -> GatewayService<S> {
        GatewayService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`GatewayLayer`] makes.
#[derive(Debug, Clone)]
pub struct GatewayService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> Service<Request<B>> for GatewayService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; keep the one that is for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match verifier.verify_headers(request.headers()).await {
                Ok(context) => {
                    request.extensions_mut().insert(context);
                    inner.call(request).await.map(IntoResponse::into_response)
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}
