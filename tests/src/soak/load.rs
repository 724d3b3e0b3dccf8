//! The soak's load: a closed loop (workers sending the next request as soon
//! as the last is answered) to find the maximum, and an open loop (requests
//! issued on a schedule, whatever is still in flight) for the soak itself.
//! Request `n` is target `n mod T` at gateway `(n / T) mod G`.

use super::fleet::Target;
use crate::TestResult;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// A request issued later than this after its scheduled time is behind.
const LATE: Duration = Duration::from_millis(100);

/// How long one request may take before it is a transport error.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What was answered over some stretch of time.
#[derive(Debug, Default, Clone)]
pub struct Interval {
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub latencies_ms: Vec<f64>,
    /// Errors by request kind and answer, e.g. `POST as viewer 1 (cookie): 500`.
    pub kinds: BTreeMap<String, u64>,
}

impl Interval {
    fn record(&mut self, latency_ms: f64, error: Option<String>) {
        self.requests += 1;
        self.latencies_ms.push(latency_ms);
        if let Some(kind) = error {
            self.errors += 1;
            *self.kinds.entry(kind).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Interval) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latencies_ms.extend(other.latencies_ms);
        for (k, v) in other.kinds {
            *self.kinds.entry(k).or_default() += v;
        }
    }

    /// Answers per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    /// The `q`-quantile of the latencies (nearest rank), NaN when none.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted
            .get(rank.clamp(1, sorted.len()) - 1)
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// The closed loop's result.
#[derive(Debug, Clone, Default)]
pub struct Max {
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub kinds: BTreeMap<String, u64>,
}

impl Max {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
}

struct Shared {
    client: reqwest::Client,
    gateways: Vec<String>,
    targets: Vec<Target>,
}

impl Shared {
    /// Send request `n`: its latency, and what was wrong with its answer.
    async fn send(&self, n: u64) -> (f64, Option<String>) {
        let (t, g) = (self.targets.len() as u64, self.gateways.len() as u64);
        let (Some(target), Some(gateway)) = (
            self.targets.get((n % t) as usize),
            self.gateways.get((n / t % g) as usize),
        ) else {
            return (0.0, Some("no target".to_string()));
        };
        let started = Instant::now();
        let error = match target
            .request(&self.client, gateway, (n / (t * g)) as usize)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if target.expected(status) => None,
                    Ok(_) => Some(format!("{}: {status}", target.name)),
                    Err(e) => Some(format!("{}: body {e}", target.name)),
                }
            }
            Err(e) if e.is_timeout() => Some(format!("{}: timed out", target.name)),
            Err(e) if e.is_connect() => Some(format!("{}: connect failed", target.name)),
            Err(_) => Some(format!("{}: transport error", target.name)),
        };
        (started.elapsed().as_secs_f64() * 1000.0, error)
    }
}

/// Sends the soak's requests.
pub struct Driver {
    shared: Arc<Shared>,
}

impl Driver {
    /// A driver keeping up to `connections` idle connections per gateway.
    pub fn new(
        gateways: &[String],
        targets: Vec<Target>,
        connections: usize,
    ) -> TestResult<Driver> {
        if gateways.is_empty() || targets.is_empty() {
            return Err("no gateway or no request to send".into());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .pool_max_idle_per_host(connections.max(64))
            .build()?;
        Ok(Driver {
            shared: Arc::new(Shared {
                client,
                gateways: gateways.to_vec(),
                targets,
            }),
        })
    }

    /// Until every kind of request gets its expected answer at every
    /// gateway (a new membership reaches the gateways asynchronously), for
    /// up to `within`.
    pub async fn settle(&self, within: Duration) -> TestResult {
        let started = Instant::now();
        let all = (self.shared.targets.len() * self.shared.gateways.len()) as u64;
        loop {
            let mut wrong = Vec::new();
            for n in 0..all {
                if let (_, Some(error)) = self.shared.send(n).await {
                    wrong.push(error);
                }
            }
            if wrong.is_empty() {
                return Ok(());
            }
            if started.elapsed() > within {
                return Err(format!("after {within:?}, still: {wrong:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Phase 1: `workers` in a closed loop; what was answered in the
    /// `duration` after `warmup`.
    pub async fn closed_loop(&self, workers: usize, warmup: Duration, duration: Duration) -> Max {
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now() + warmup;
        let end = start + duration;
        let handles: Vec<JoinHandle<Interval>> = (0..workers)
            .map(|_| {
                let (shared, next) = (self.shared.clone(), next.clone());
                tokio::spawn(async move {
                    let mut seen = Interval::default();
                    loop {
                        let sent = Instant::now();
                        if sent >= end {
                            return seen;
                        }
                        let (latency, error) =
                            shared.send(next.fetch_add(1, Ordering::Relaxed)).await;
                        if sent >= start && Instant::now() <= end {
                            seen.record(latency, error);
                        }
                    }
                })
            })
            .collect();
        let mut total = Interval::default();
        for handle in handles {
            if let Ok(seen) = handle.await {
                total.merge(seen);
            }
        }
        total.seconds = duration.as_secs_f64();
        Max {
            seconds: total.seconds,
            requests: total.requests,
            errors: total.errors,
            p50_ms: total.quantile_ms(0.50),
            p99_ms: total.quantile_ms(0.99),
            kinds: total.kinds,
        }
    }

    /// Phase 2: `rate` requests per second on a schedule, at most
    /// `max_in_flight` at once, until [`Soak::stop_at`].
    pub fn open_loop(&self, rate: f64, max_in_flight: usize) -> Soak {
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let behind = Arc::new(AtomicU64::new(0));
        let stats = Arc::new(Mutex::new(Interval::default()));
        let slots = Arc::new(Semaphore::new(max_in_flight));
        let issuer = tokio::spawn(issue(Issue {
            shared: self.shared.clone(),
            rate,
            start,
            stop: stop.clone(),
            behind: behind.clone(),
            stats: stats.clone(),
            slots: slots.clone(),
        }));
        Soak {
            start,
            last: start,
            stop,
            behind,
            stats,
            slots,
            max_in_flight,
            issuer: Some(issuer),
        }
    }
}

struct Issue {
    shared: Arc<Shared>,
    rate: f64,
    start: Instant,
    stop: Arc<AtomicBool>,
    behind: Arc<AtomicU64>,
    stats: Arc<Mutex<Interval>>,
    slots: Arc<Semaphore>,
}

/// Issue request `n` at `start + n / rate` (checked every millisecond).
async fn issue(issue: Issue) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    while !issue.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let due = (issue.start.elapsed().as_secs_f64() * issue.rate) as u64;
        while n < due && !issue.stop.load(Ordering::Relaxed) {
            let Ok(slot) = issue.slots.clone().acquire_owned().await else {
                return;
            };
            let scheduled = Duration::from_secs_f64(n as f64 / issue.rate);
            if issue.start.elapsed().saturating_sub(scheduled) > LATE {
                issue.behind.fetch_add(1, Ordering::Relaxed);
            }
            let (shared, stats) = (issue.shared.clone(), issue.stats.clone());
            tokio::spawn(async move {
                let (latency, error) = shared.send(n).await;
                if let Ok(mut stats) = stats.lock() {
                    stats.record(latency, error);
                }
                drop(slot);
            });
            n += 1;
        }
    }
}

/// The running open loop.
pub struct Soak {
    start: Instant,
    last: Instant,
    stop: Arc<AtomicBool>,
    behind: Arc<AtomicU64>,
    stats: Arc<Mutex<Interval>>,
    slots: Arc<Semaphore>,
    max_in_flight: usize,
    issuer: Option<JoinHandle<()>>,
}

impl Soak {
    /// Sleep until `at` after the start.
    pub async fn sleep_until(&self, at: Duration) {
        tokio::time::sleep_until((self.start + at).into()).await;
    }

    /// Stop issuing at `at` after the start, and wait (up to the request
    /// timeout and a little) for what is in flight.
    pub async fn stop_at(&mut self, at: Duration) {
        self.sleep_until(at).await;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(issuer) = self.issuer.take() {
            let _ = issuer.await;
        }
        let all = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(
            TIMEOUT + Duration::from_secs(1),
            self.slots.acquire_many(all),
        )
        .await;
    }

    /// What was answered since the last call.
    pub fn take(&mut self) -> Interval {
        let now = Instant::now();
        let mut taken = match self.stats.lock() {
            Ok(mut stats) => std::mem::take(&mut *stats),
            Err(_) => Interval::default(),
        };
        taken.seconds = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        taken
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Requests issued later than 100 ms after their scheduled time.
    pub fn behind(&self) -> u64 {
        self.behind.load(Ordering::Relaxed)
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
