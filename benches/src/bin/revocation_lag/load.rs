//! Background load: workers sending allowed requests at a fixed total rate,
//! each on its own keep-alive connection to one gateway, counted while the
//! changes are being measured.

use crate::subjects::Credential;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// What one worker saw while measuring.
#[derive(Debug, Default)]
struct WorkerStats {
    ok: u64,
    errors: BTreeMap<String, u64>,
    latencies_ms: Vec<f64>,
}

/// The running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
    workers: Vec<JoinHandle<WorkerStats>>,
    window: Option<(Instant, Option<Instant>)>,
    pub target_rps: f64,
}

/// The load over the measured window.
#[derive(Debug)]
pub struct LoadReport {
    pub target_rps: f64,
    pub workers: usize,
    pub seconds: f64,
    pub ok: u64,
    /// Not-allowed answers by status, and transport errors.
    pub errors: BTreeMap<String, u64>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

impl LoadReport {
    pub fn achieved_rps(&self) -> f64 {
        let errors: u64 = self.errors.values().sum();
        (self.ok + errors) as f64 / self.seconds.max(1e-9)
    }
}

impl Load {
    /// Start `workers` workers sharing `rps`, worker `i` using
    /// `credentials[i % len]` at `gateways[(i + i / len) % n]`.
    pub fn start(
        gateways: &[String],
        credentials: &[Credential],
        workers: usize,
        rps: f64,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let measuring = Arc::new(AtomicBool::new(false));
        let period = Duration::from_secs_f64(workers as f64 / rps.max(1.0));
        let handles = (0..workers)
            .filter_map(|i| {
                let credential = credentials.get(i % credentials.len().max(1))?.clone();
                let gateway = gateways.get((i + i / credentials.len().max(1)) % gateways.len())?;
                let url = format!("{gateway}/doc");
                let (stop, measuring) = (stop.clone(), measuring.clone());
                Some(tokio::spawn(worker(
                    url, credential, period, stop, measuring,
                )))
            })
            .collect();
        Load {
            stop,
            measuring,
            workers: handles,
            window: None,
            target_rps: rps,
        }
    }

    /// Start counting.
    pub fn measure(&mut self) {
        self.measuring.store(true, Ordering::SeqCst);
        self.window = Some((Instant::now(), None));
    }

    /// Stop counting (the load goes on until [`Load::finish`]).
    pub fn pause(&mut self) {
        self.measuring.store(false, Ordering::SeqCst);
        if let Some((_, end)) = &mut self.window {
            *end = Some(Instant::now());
        }
    }

    /// Stop the workers and sum what they counted.
    pub async fn finish(mut self) -> LoadReport {
        self.pause();
        self.stop.store(true, Ordering::SeqCst);
        let workers = self.workers.len();
        let mut total = WorkerStats::default();
        for handle in self.workers {
            if let Ok(stats) = handle.await {
                total.ok += stats.ok;
                for (k, v) in stats.errors {
                    *total.errors.entry(k).or_default() += v;
                }
                total.latencies_ms.extend(stats.latencies_ms);
            }
        }
        let seconds = match self.window {
            Some((start, Some(end))) => end.duration_since(start).as_secs_f64(),
            _ => 0.0,
        };
        total.latencies_ms.sort_by(f64::total_cmp);
        LoadReport {
            target_rps: self.target_rps,
            workers,
            seconds,
            ok: total.ok,
            errors: total.errors,
            latency_p50_ms: wrnexus_benches::stats::quantile(&total.latencies_ms, 0.50)
                .unwrap_or(f64::NAN),
            latency_p99_ms: wrnexus_benches::stats::quantile(&total.latencies_ms, 0.99)
                .unwrap_or(f64::NAN),
        }
    }
}

async fn worker(
    url: String,
    credential: Credential,
    period: Duration,
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
) -> WorkerStats {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let mut stats = WorkerStats::default();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let sent = Instant::now();
        let outcome = match credential.apply(client.get(&url)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(_) if status == 200 => None,
                    Ok(_) => Some(status.to_string()),
                    Err(_) => Some("body error".to_string()),
                }
            }
            Err(_) => Some("transport error".to_string()),
        };
        if !measuring.load(Ordering::Relaxed) {
            continue;
        }
        stats
            .latencies_ms
            .push(sent.elapsed().as_secs_f64() * 1000.0);
        match outcome {
            None => stats.ok += 1,
            Some(what) => *stats.errors.entry(what).or_default() += 1,
        }
    }
    stats
}
