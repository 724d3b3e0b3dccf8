//! Figures: lag percentiles by kind of change and overall, the load, and
//! the gateways' own lag histograms beside the measured lags.

use crate::load::LoadReport;
use crate::probe::{ChangeOutcome, GatewayOutcome};
use crate::scrape::Histogram;
use crate::subjects::Kind;
use wrnexus_benches::stats::quantile;

/// The goal: every gateway refuses within this, at the 99th percentile.
pub const GOAL_P99_MS: f64 = 250.0;

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// One row of the lag table: all (change, gateway) pairs of a group.
struct Row {
    label: String,
    changes: usize,
    pairs: usize,
    refused: usize,
    lag: Vec<f64>,
    from_sent: Vec<f64>,
    resolution: Vec<f64>,
    flaps: u32,
    early: u32,
    other: usize,
    api: Vec<f64>,
}

impl Row {
    fn of<'a>(label: &str, changes: impl Iterator<Item = &'a ChangeOutcome> + Clone) -> Row {
        let pairs = || changes.clone().flat_map(|c| c.gateways.iter());
        let pick = |f: fn(&GatewayOutcome) -> Option<f64>| sorted(pairs().filter_map(f));
        Row {
            label: label.to_string(),
            changes: changes.clone().count(),
            pairs: pairs().count(),
            refused: pairs().filter(|g| g.lag_ms.is_some()).count(),
            lag: pick(|g| g.lag_ms),
            from_sent: pick(|g| g.lag_from_sent_ms),
            resolution: pick(|g| g.resolution_ms),
            flaps: pairs().map(|g| g.flaps).sum(),
            early: pairs().map(|g| g.early).sum(),
            other: pairs().map(|g| g.other.len()).sum(),
            api: sorted(changes.map(|c| c.api_ms)),
        }
    }

    fn print(&self) {
        let q = |v: &[f64], p: f64| fmt(quantile(v, p));
        let max = |v: &[f64]| fmt(v.last().copied());
        let goal = match quantile(&self.lag, 0.99) {
            Some(p99) if self.refused == self.pairs && p99 <= GOAL_P99_MS => "met",
            _ => "NOT met",
        };
        println!(
            "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} | {} | {} | ≤ {GOAL_P99_MS:.0} ms: {goal} |",
            self.label,
            self.changes,
            self.refused,
            self.pairs,
            q(&self.lag, 0.5),
            q(&self.lag, 0.99),
            max(&self.lag),
            q(&self.from_sent, 0.5),
            q(&self.from_sent, 0.99),
            max(&self.from_sent),
            q(&self.resolution, 0.5),
            max(&self.resolution),
            q(&self.api, 0.5),
            q(&self.api, 0.99),
            self.flaps,
            self.early,
            self.other,
        );
    }
}

/// The lag table, by kind and overall.
pub fn lags(changes: &[ChangeOutcome]) {
    println!(
        "\nLag to the first refusal at each gateway, ms (send time of the first refused probe):"
    );
    println!(
        "| change | changes | refused pairs | p50 | p99 | max | p50 from send | p99 from send | max from send | probe gap p50 / max | API call p50 / p99 | flaps | early | other | goal (p99, t0 = return) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for kind in Kind::ALL {
        Row::of(kind.name(), changes.iter().filter(|c| c.kind == kind)).print();
    }
    Row::of("all", changes.iter()).print();
    let probes: usize = changes
        .iter()
        .flat_map(|c| c.gateways.iter().map(|g| g.probes))
        .sum();
    println!("Probes sent: {probes}.");
    let others: Vec<&String> = changes
        .iter()
        .flat_map(|c| c.gateways.iter().flat_map(|g| g.other.iter()))
        .collect();
    if !others.is_empty() {
        println!(
            "Unexpected answers (first 10 of {}): {:?}",
            others.len(),
            &others[..others.len().min(10)]
        );
    }
}

/// The load over the measured window.
pub fn load(report: &LoadReport) {
    let errors: u64 = report.errors.values().sum();
    println!(
        "\nLoad while measuring: {} workers, target {:.0} req/s, achieved {:.0} req/s over {:.1} s; {} allowed, {} not ({:?}); latency p50 {:.2} ms, p99 {:.2} ms",
        report.workers,
        report.target_rps,
        report.achieved_rps(),
        report.seconds,
        report.ok,
        errors,
        report.errors,
        report.latency_p50_ms,
        report.latency_p99_ms,
    );
}

/// The gateways' histograms over the window, beside the measured lags.
pub fn metrics(changes: &[ChangeOutcome], before: &[Histogram], after: &[Histogram]) {
    println!(
        "\nGateway metric wrnexus_gateway_invalidation_lag_seconds{{bus=\"redis\"}} (publish → local drop) over the window; quantiles interpolated linearly within buckets, ms:"
    );
    println!(
        "| gateway | observations | p50 | p99 | measured p50 / p99 / max from send | observations above the measured max | consistent |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut total = Histogram::default();
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        let h = a.since(b);
        total.merge(&h);
        let measured = sorted(
            changes
                .iter()
                .filter_map(|c| c.gateways.get(i)?.lag_from_sent_ms),
        );
        print_metric_row(&format!("{}", i + 1), &h, &measured, changes.len());
    }
    let measured = sorted(
        changes
            .iter()
            .flat_map(|c| c.gateways.iter().filter_map(|g| g.lag_from_sent_ms)),
    );
    print_metric_row("all", &total, &measured, changes.len() * after.len());
    let mut below = 0.0;
    let buckets: Vec<String> = total
        .buckets
        .iter()
        .filter_map(|&(le, cumulative)| {
            let inside = cumulative - below;
            below = cumulative;
            (inside > 0.0).then(|| format!("{inside:.0} ≤ {:.0} ms", le * 1000.0))
        })
        .collect();
    println!(
        "All gateways' observations by bucket (non-empty ones, each above the previous bound): {}",
        buckets.join(", ")
    );
}

fn print_metric_row(label: &str, h: &Histogram, measured: &[f64], expected_at_least: usize) {
    let ms = |s: Option<f64>| s.map(|s| s * 1000.0);
    let max = measured.last().copied();
    let above = max.map_or(0.0, |m| h.above(m / 1000.0));
    let mut notes = Vec::new();
    if above > 0.0 {
        notes.push("metric above the measured maximum".to_string());
    }
    if h.count < expected_at_least as f64 {
        notes.push(format!(
            "fewer observations than changes ({expected_at_least})"
        ));
    }
    println!(
        "| {label} | {:.0} | {} | {} | {} / {} / {} | {above:.0} | {} |",
        h.count,
        fmt(ms(h.quantile(0.5))),
        fmt(ms(h.quantile(0.99))),
        fmt(quantile(measured, 0.5)),
        fmt(quantile(measured, 0.99)),
        fmt(max),
        if notes.is_empty() {
            "yes".to_string()
        } else {
            format!("NO: {}", notes.join("; "))
        },
    );
}
