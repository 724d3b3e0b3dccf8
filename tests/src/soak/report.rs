//! The soak's report: one sample per interval (requests, errors, latency,
//! each watched process's resident set), the memory growth after the
//! warm-up, and a table and summary to print.

use super::Settings;
use super::load::{Interval, Max};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// One interval of the soak.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the soak started, at the end of the interval.
    pub elapsed_s: f64,
    pub requests: u64,
    pub errors: u64,
    /// Answers per second over the interval.
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// `VmRSS` in KiB of each watched process ([`Report::processes`]).
    pub rss_kib: Vec<u64>,
}

impl Sample {
    pub(crate) fn new(elapsed: Duration, interval: &Interval, rss_kib: Vec<u64>) -> Sample {
        Sample {
            elapsed_s: elapsed.as_secs_f64(),
            requests: interval.requests,
            errors: interval.errors,
            rate: interval.rate(),
            p50_ms: interval.quantile_ms(0.50),
            p99_ms: interval.quantile_ms(0.99),
            rss_kib,
        }
    }
}

/// A process's memory over the soak after the warm-up.
#[derive(Debug, Clone)]
pub struct Growth {
    pub process: String,
    /// Median `VmRSS` (KiB) of the first three samples after the warm-up.
    pub start_kib: u64,
    /// Median `VmRSS` (KiB) of the last three samples.
    pub end_kib: u64,
    /// `(end − start) / start`.
    pub growth: f64,
}

/// Everything the soak measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub settings: Settings,
    /// Phase 1: requests per second at the maximum, and what it saw.
    pub max_rate: f64,
    pub max_requests: u64,
    pub max_errors: u64,
    pub max_p50_ms: f64,
    pub max_p99_ms: f64,
    /// Phase 2: the rate asked for.
    pub soak_rate: f64,
    /// The watched processes: `gateway-<port>`…, `control-plane`.
    pub processes: Vec<String>,
    pub samples: Vec<Sample>,
    /// Samples left out of the memory growth.
    pub warmup_samples: usize,
    /// Errors of both phases by request kind and answer.
    pub errors: BTreeMap<String, u64>,
    /// Soak requests issued more than 100 ms after their scheduled time.
    pub behind: u64,
    /// When there were errors: the last warnings the fleet logged.
    pub warnings: Vec<String>,
}

/// The median of `values` (the upper one of an even count).
fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    pub(crate) fn new(
        settings: &Settings,
        max: Max,
        soak_rate: f64,
        processes: &[String],
    ) -> Report {
        Report {
            settings: settings.clone(),
            max_rate: max.rate(),
            max_requests: max.requests,
            max_errors: max.errors,
            max_p50_ms: max.p50_ms,
            max_p99_ms: max.p99_ms,
            soak_rate,
            processes: processes.to_vec(),
            samples: Vec::new(),
            warmup_samples: settings.warmup_samples(),
            errors: max.kinds,
            behind: 0,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, sample: Sample, interval: &Interval) {
        for (kind, n) in &interval.kinds {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        self.samples.push(sample);
    }

    /// Requests answered during the soak.
    pub fn soak_requests(&self) -> u64 {
        self.samples.iter().map(|s| s.requests).sum()
    }

    /// Errors during the soak.
    pub fn soak_errors(&self) -> u64 {
        self.samples.iter().map(|s| s.errors).sum()
    }

    /// Errors of both phases.
    pub fn total_errors(&self) -> u64 {
        self.max_errors + self.soak_errors()
    }

    /// Memory growth per watched process after the warm-up.
    pub fn growth(&self) -> Vec<Growth> {
        let after = self.samples.get(self.warmup_samples..).unwrap_or_default();
        let k = after.len().min(3);
        self.processes
            .iter()
            .enumerate()
            .map(|(i, process)| {
                let rss: Vec<u64> = after
                    .iter()
                    .map(|s| s.rss_kib.get(i).copied().unwrap_or(0))
                    .collect();
                let start_kib = median(rss.get(..k).unwrap_or_default());
                let end_kib = median(rss.get(rss.len() - k..).unwrap_or_default());
                Growth {
                    process: process.clone(),
                    start_kib,
                    end_kib,
                    growth: (end_kib as f64 - start_kib as f64) / (start_kib as f64).max(1.0),
                }
            })
            .collect()
    }

    /// The process whose memory grew the most.
    pub fn worst_growth(&self) -> Option<Growth> {
        self.growth()
            .into_iter()
            .max_by(|a, b| a.growth.total_cmp(&b.growth))
    }

    /// Short column names of the watched processes: `gw1`…, `cp`.
    fn columns(&self) -> Vec<String> {
        let mut gateway = 0;
        self.processes
            .iter()
            .map(|p| {
                if p.starts_with("gateway-") {
                    gateway += 1;
                    format!("gw{gateway}")
                } else {
                    "cp".to_string()
                }
            })
            .collect()
    }

    /// The table's header line.
    pub fn header(&self) -> String {
        let mut line = format!(
            "{:>8} {:>9} {:>7} {:>6} {:>8} {:>8}",
            "t (s)", "requests", "req/s", "errors", "p50 ms", "p99 ms"
        );
        for column in self.columns() {
            let _ = write!(line, " {:>10}", format!("{column} MiB"));
        }
        line
    }

    /// Row `i` of the table; a warm-up sample is marked `*`.
    pub fn row(&self, i: usize) -> String {
        let Some(s) = self.samples.get(i) else {
            return String::new();
        };
        let mark = if i < self.warmup_samples { "*" } else { " " };
        let mut line = format!(
            "{:>7.0}{mark} {:>9} {:>7.0} {:>6} {:>8.2} {:>8.2}",
            s.elapsed_s, s.requests, s.rate, s.errors, s.p50_ms, s.p99_ms
        );
        for kib in &s.rss_kib {
            let _ = write!(line, " {:>10.1}", mib(*kib));
        }
        line
    }

    /// The summary under the table.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let _ = writeln!(
            out,
            "maximum: {:.0} requests/s ({} workers, closed loop, {:.0} s; p50 {:.2} ms, p99 {:.2} ms; {} errors)",
            self.max_rate,
            s.concurrency,
            s.max_duration.as_secs_f64(),
            self.max_p50_ms,
            self.max_p99_ms,
            self.max_errors
        );
        let soak_s = self.samples.last().map_or(0.0, |l| l.elapsed_s);
        let _ = writeln!(
            out,
            "soak: {:.0} requests/s asked ({:.0} % of the maximum, open loop), {:.0} answered per second over {soak_s:.0} s; {} requests, {} errors, {} issued late (> 100 ms)",
            self.soak_rate,
            s.fraction * 100.0,
            self.soak_requests() as f64 / soak_s.max(1e-9),
            self.soak_requests(),
            self.soak_errors(),
            self.behind
        );
        if let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) {
            let _ = writeln!(
                out,
                "p99: {:.2} ms in the first interval, {:.2} ms in the last (worst {:.2} ms)",
                first.p99_ms,
                last.p99_ms,
                self.samples.iter().map(|s| s.p99_ms).fold(0.0, f64::max)
            );
        }
        let _ = writeln!(
            out,
            "memory after a warm-up of {} sample(s) ({:.0} s), median of 3 samples:",
            self.warmup_samples,
            self.samples
                .get(self.warmup_samples.saturating_sub(1))
                .map_or(0.0, |s| s.elapsed_s)
        );
        for (g, column) in self.growth().iter().zip(self.columns()) {
            let _ = writeln!(
                out,
                "  {column:<4} {:<20} {:>8.1} MiB -> {:>8.1} MiB  {:>+6.2} %",
                g.process,
                mib(g.start_kib),
                mib(g.end_kib),
                g.growth * 100.0
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "errors by request and answer:");
            for (kind, n) in &self.errors {
                let _ = writeln!(out, "  {n:>8}  {kind}");
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "the fleet's last warnings:");
            for line in &self.warnings {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }

    /// The table and the summary.
    pub fn render(&self) -> String {
        let mut out = self.header();
        out.push('\n');
        for i in 0..self.samples.len() {
            out.push_str(&self.row(i));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.summary());
        out
    }
}
