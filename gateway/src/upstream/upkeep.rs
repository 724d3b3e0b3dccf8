//! Keeping every route's upstreams current, on the gateway's background
//! runtime: health checks and re-resolution on their schedules, each
//! address's state exported (`wrnexus_gateway_upstream_healthy`) and its
//! changes logged.

use crate::upstream::pool::UpstreamPool;
use prometheus::IntGaugeVec;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// An interval whose first tick is `first` from now.
fn every(period: Duration, first: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(Instant::now() + first, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// The next tick of `interval`, or never.
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// What the gauge last said of a pool's addresses.
struct Exported {
    gauge: IntGaugeVec,
    states: HashMap<String, bool>,
}

impl Exported {
    /// Export `pool`'s states; log the changes; drop addresses gone.
    fn export(&mut self, pool: &UpstreamPool) {
        let route = pool.route();
        let now: HashMap<String, bool> = pool.states().into_iter().collect();
        for (address, up) in &now {
            match self.states.get(address) {
                Some(before) if before != up => {
                    if *up {
                        tracing::info!(route, address = %address, "upstream address back in balance");
                    } else {
                        tracing::warn!(route, address = %address, "upstream address failing its health checks: out of balance");
                    }
                }
                None if !self.states.is_empty() => {
                    tracing::info!(route, address = %address, "upstream address found")
                }
                _ => {}
            }
            self.gauge
                .with_label_values(&[route, address.as_str()])
                .set(i64::from(*up));
        }
        for address in self.states.keys().filter(|a| !now.contains_key(*a)) {
            tracing::info!(route, address = %address, "upstream address gone");
            let _ = self.gauge.remove_label_values(&[route, address.as_str()]);
        }
        self.states = now;
    }
}

/// Run `pool`'s checks and re-resolution forever; `gauge` is labelled by
/// route and address.
pub async fn upkeep(pool: Arc<UpstreamPool>, gauge: IntGaugeVec) {
    let mut exported = Exported {
        gauge,
        states: HashMap::new(),
    };
    exported.export(&pool);
    // The first check at once; the first re-resolution a period after the
    // start's.
    let mut checks = pool
        .health_interval()
        .map(|period| every(period, Duration::ZERO));
    let mut resolutions = pool.resolve_interval().map(|period| every(period, period));
    if checks.is_none() && resolutions.is_none() {
        return;
    }
    loop {
        tokio::select! {
            () = tick(&mut checks) => pool.check_health().await,
            () = tick(&mut resolutions) => pool.refresh().await,
        }
        exported.export(&pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HealthCheck, RouteConfig, Upstream};
    use crate::upstream::discovery::system_resolver;
    use prometheus::Opts;

    #[tokio::test]
    async fn the_gauge_follows_the_checks() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut route =
            RouteConfig::default_for(Upstream::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        route.reach.health_check = Some(HealthCheck {
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(200),
            unhealthy_threshold: 1,
            healthy_threshold: 1,
            path: None,
        });
        let pool = Arc::new(UpstreamPool::build(&route, system_resolver()).unwrap());
        let gauge = IntGaugeVec::new(Opts::new("up", "up"), &["route", "address"]).unwrap();
        let task = tokio::spawn(upkeep(pool, gauge.clone()));
        let address = format!("127.0.0.1:{port}");
        let value = || gauge.with_label_values(&["app", address.as_str()]).get();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(value(), 1);
        drop(listener);
        let deadline = Instant::now() + Duration::from_secs(5);
        while value() != 0 {
            assert!(Instant::now() < deadline, "never marked down");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
    }
}
