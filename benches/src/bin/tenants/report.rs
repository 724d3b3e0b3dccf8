//! The tables: the machine and settings, then per scale its seeding and
//! its figures beside the smallest scale's, each row with its goal; then
//! the memory of a gateway holding many principals.

use crate::measure::ScaleResult;
use crate::rss::RssResult;
use crate::seed::Seeded;
use std::process::Command;

const MIB: f64 = 1024.0 * 1024.0;

fn run(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The machine, Postgres's version and the binary under test.
pub fn machine(binary: &str) -> String {
    format!(
        "machine: {}; Postgres {}\nbinary: {binary} ({})",
        wrnexus_benches::machine::describe(),
        run("psql", &["--version"])
            .split_whitespace()
            .nth(2)
            .unwrap_or("?"),
        run(binary, &["--version"]),
    )
}

pub fn seeded(s: &Seeded) -> String {
    let steps: Vec<String> = s
        .steps
        .iter()
        .map(|(table, rows, t)| {
            if *rows > 0 {
                format!("{table} {rows} rows {:.1} s", t.as_secs_f64())
            } else {
                format!("{table} {:.1} s", t.as_secs_f64())
            }
        })
        .collect();
    format!(
        "seeded {} workspaces ({} session(s) per owner) in {:.1} s: migrate {:.1} s; {}; database {:.0} MiB",
        s.scale,
        s.sessions_per_user,
        s.total.as_secs_f64(),
        s.migrate.as_secs_f64(),
        steps.join("; "),
        s.database_bytes as f64 / MIB,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A row's median over the rounds and each round's value.
fn row(r: &ScaleResult, f: fn(&crate::load::WrkRun) -> f64) -> (f64, String) {
    let all: Vec<f64> = r.runs.iter().map(f).collect();
    let shown: Vec<String> = all.iter().map(|v| fmt(*v)).collect();
    (median(all), shown.join(" "))
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

type Metric = (&'static str, fn(&crate::load::WrkRun) -> f64);

/// Held to the ±tolerance goal against the smallest scale.
const FLAT: &[Metric] = &[
    ("throughput, req/s", |w| w.rps),
    ("gateway CPU per request, µs", |w| w.cpu_us),
    ("latency p50, µs (wrk)", |w| w.p50_us),
    ("latency p99, µs (wrk)", |w| w.p99_us),
    ("decision mean, µs (/metrics)", |w| w.gateway.mean_us),
];

/// Shown beside them: the histogram's buckets (10, 50, 100 µs …) are too
/// coarse for a percentage goal on its quantiles.
const SHOWN: &[Metric] = &[
    ("decision p50, µs (/metrics, bucketed)", |w| {
        w.gateway.p50_us
    }),
    ("decision p99, µs (/metrics, bucketed)", |w| {
        w.gateway.p99_us
    }),
    ("decisions over 10 µs, % (/metrics)", |w| {
        w.gateway.over_10us
    }),
];

const ZERO: &[Metric] = &[
    ("cache misses (and stale) in the runs", |w| {
        w.gateway.misses + w.gateway.stale
    }),
    ("answers other than 200", |w| {
        w.gateway.not_ok.max(w.non_2xx as f64)
    }),
    ("rounds with socket errors (wrk)", |w| {
        if w.socket_errors == "-" { 0.0 } else { 1.0 }
    }),
];

/// One scale's table, its flat rows compared with `base` (the smallest
/// scale) against the ±`tolerance` % goal.
pub fn scale(r: &ScaleResult, base: &ScaleResult, tolerance: f64, seeding: Option<&str>) -> String {
    let mut out = format!(
        "\n== {} workspaces: {} owners, {} memberships, {} sessions; database {:.0} MiB ==\n",
        r.scale,
        r.scale,
        r.scale,
        r.sessions,
        r.database_bytes as f64 / MIB
    );
    if let Some(s) = seeding {
        out += &format!("{s}\n");
    }
    out += &format!(
        "working set: {} sessions of {} owners, drawn across the table; first sight of each (Redis, then the \
         control plane): {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs\n",
        r.working_set,
        r.owners,
        r.warm.requests as f64 / r.warm.wall.as_secs_f64().max(1e-9),
        r.warm.p50_us,
        r.warm.p99_us
    );
    out += &format!(
        "{:<40} {:>9}  {:<24} {:>9}  goal\n",
        "", "median", "rounds", "vs base"
    );
    for (name, f) in FLAT {
        let (m, rounds) = row(r, *f);
        let (b, _) = row(base, *f);
        let change = if b > 0.0 { (m / b - 1.0) * 100.0 } else { 0.0 };
        let verdict = if r.scale == base.scale {
            "(the base)".to_string()
        } else if change.abs() <= tolerance {
            format!("±{tolerance:.0} % of the base: met")
        } else {
            format!("±{tolerance:.0} % of the base: NOT met")
        };
        out += &format!(
            "{name:<40} {:>9}  {rounds:<24} {change:>+8.1}%  {verdict}\n",
            fmt(m)
        );
    }
    for (name, f) in SHOWN {
        let (m, rounds) = row(r, *f);
        let (b, _) = row(base, *f);
        let change = if b > 0.0 { (m / b - 1.0) * 100.0 } else { 0.0 };
        out += &format!(
            "{name:<40} {:>9}  {rounds:<24} {change:>+8.1}%  (shown, no goal)\n",
            fmt(m)
        );
    }
    for (name, f) in ZERO {
        let total: f64 = r.runs.iter().map(f).sum();
        let verdict = if total == 0.0 { "0: met" } else { "0: NOT met" };
        out += &format!(
            "{name:<40} {:>9}  {:<24} {:>9}  {verdict}\n",
            fmt(total),
            "(all rounds)",
            ""
        );
    }
    let unanswered: f64 = r.runs.iter().map(|w| w.gateway.unanswered).sum();
    out += &format!(
        "(requests in flight when wrk stopped, left unanswered, not counted above: {unanswered:.0})\n"
    );
    out
}

/// The memory table.
pub fn rss(results: &[RssResult], goal_mib: f64) -> String {
    let mut out = String::from("\n== Gateway memory holding many principals (VmRSS) ==\n");
    out += &format!(
        "{:<9} {:>14} {:>14} {:>9} {:>10} {:>10} {:>12} {:>17}  goal: growth ≤ {goal_mib:.0} MiB, all held\n",
        "config",
        "cache_capacity",
        "token_cache",
        "idle MiB",
        "after MiB",
        "growth",
        "held",
        "first pass"
    );
    for r in results {
        let growth = r.growth() as f64 / MIB;
        let held_all = r.held >= r.principals as f64;
        let verdict = match (growth <= goal_mib, held_all) {
            (true, true) => "met",
            (false, true) => "NOT met (memory)",
            (_, false) => "NOT met (not all held)",
        };
        out += &format!(
            "{:<9} {:>14} {:>14} {:>9.1} {:>10.1} {:>9.1}M {:>5.0}/{:<6} {:>8.0} req/s  {verdict}\n",
            r.label,
            r.gateway.cache_capacity,
            r.gateway.token_cache_capacity,
            r.idle as f64 / MIB,
            r.filled as f64 / MIB,
            growth,
            r.held,
            r.principals,
            r.fill.requests as f64 / r.fill.wall.as_secs_f64().max(1e-9),
        );
        out += &format!(
            "{:<9} per principal: {:.0} bytes; first pass p50 {:.0} µs p99 {:.0} µs; second pass {:.0} req/s\n",
            "",
            r.growth() as f64 / r.principals.max(1) as f64,
            r.fill.p50_us,
            r.fill.p99_us,
            r.check.requests as f64 / r.check.wall.as_secs_f64().max(1e-9),
        );
    }
    out
}
