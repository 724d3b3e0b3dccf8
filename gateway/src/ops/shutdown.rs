//! Stopping without failing a request: on SIGTERM the gateway turns
//! unready at once, keeps accepting for `shutdown_delay` (load balancers
//! take a few probes to notice), then stops accepting and drains in-flight
//! requests within `drain_timeout`. SIGINT stops at once; SIGQUIT is
//! pingora's graceful upgrade.

use crate::ops::readiness::Readiness;
use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// The gateway's shutdown signal watch, given to pingora.
pub struct Shutdown {
    pub readiness: Arc<Readiness>,
    pub delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for Shutdown {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            tracing::error!("cannot watch for signals; stopping");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => {
                self.readiness.stop();
                tracing::info!(
                    delay_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
                    "SIGTERM: unready now; still accepting for the shutdown delay, then draining"
                );
                tokio::select! {
                    _ = tokio::time::sleep(self.delay) => {}
                    _ = int.recv() => return ShutdownSignal::FastShutdown,
                }
                ShutdownSignal::GracefulTerminate
            }
            _ = int.recv() => ShutdownSignal::FastShutdown,
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
        }
    }
}
