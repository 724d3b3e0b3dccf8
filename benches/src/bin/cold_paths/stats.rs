//! The rows of the cold-paths report: samples in milliseconds, their p50
//! and p99, and the goal each row is held to.

use wrnexus_benches::stats::percentile;

/// One measured path.
pub struct Row {
    pub name: &'static str,
    /// Milliseconds, one per sample.
    pub samples: Vec<f64>,
    /// Which percentile the goal bounds (50 or 99), and the bound in ms.
    pub goal_percentile: f64,
    pub goal_ms: f64,
}

impl Row {
    pub fn new(name: &'static str, goal_percentile: f64, goal_ms: f64) -> Self {
        Row {
            name,
            samples: Vec::new(),
            goal_percentile,
            goal_ms,
        }
    }
}

/// Print the table; whether every goal was met.
pub fn print(rows: &[Row]) -> bool {
    println!(
        "\n| path | n | p50 ms | p99 ms | max ms | goal | met |\n|---|---:|---:|---:|---:|---|---|"
    );
    let mut all = true;
    for row in rows {
        let value = percentile(&row.samples, row.goal_percentile);
        let met = value <= row.goal_ms;
        all &= met;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | p{} ≤ {} ms | {} |",
            row.name,
            row.samples.len(),
            percentile(&row.samples, 50.0),
            percentile(&row.samples, 99.0),
            percentile(&row.samples, 100.0),
            row.goal_percentile,
            row.goal_ms,
            if met { "yes" } else { "NO" }
        );
    }
    all
}
