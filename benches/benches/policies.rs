//! Criterion benchmarks of the decision as the policy set grows: the
//! shipped set, and the shipped set with 100 and 1000 more policies
//! (`src/policy_sets.rs`), each decided from the memo
//! (`decide`, the steady path) and evaluated in full (`decide_fresh`, a
//! request never decided before), and the time each set takes to load:
//! parsed, validated and prepared (`PolicyEngine::load`), and with every
//! check a reload runs (`reload::load_checked`: proofs, invariants,
//! decision tests), timed apart (seconds, not microseconds).
//!
//! Run with `cargo bench -p wrnexus-benches --bench policies`.

use wrnexus_benches::policy_sets;
use wrnexus_benches::requests::member_write;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wrnexus_policies::{PolicyEngine, PolicySource};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const USER: &str = "3f1c9a2e-0000-4000-8000-000000000001";
const WORKSPACE: &str = "3f1c9a2e-0000-4000-8000-000000000002";

/// The sets measured: a name and how many policies are added.
const SETS: [(&str, usize); 3] = [("shipped", 0), ("plus100", 100), ("plus1000", 1000)];

/// How many times each checked load is timed.
const CHECKED_LOADS: usize = 3;

/// Write each set into its own directory under the system's temp dir.
fn write_sets() -> BenchResult<Vec<(&'static str, PathBuf)>> {
    let root = std::env::temp_dir().join(format!("wrnexus-bench-policies-{}", std::process::id()));
    let mut sets = Vec::new();
    for (name, extra) in SETS {
        let dir = root.join(name);
        policy_sets::write_set(&dir, extra)?;
        sets.push((name, dir));
    }
    Ok(sets)
}

/// Time `load_checked` of `dir` a few times; print each and the median.
fn time_checked_load(name: &str, dir: &Path) -> BenchResult<()> {
    let source = PolicySource::Dir(dir.to_path_buf());
    let mut times = Vec::new();
    let mut proofs = String::new();
    for _ in 0..CHECKED_LOADS {
        let start = Instant::now();
        let engine = wrnexus_policies::reload::load_checked(&source)?;
        times.push(start.elapsed());
        proofs = engine
            .proofs()
            .map_or_else(String::new, ToString::to_string);
    }
    times.sort();
    println!(
        "policies/load_checked/{name}: median {:.1} ms of {:?} (proofs: {proofs})",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times
            .iter()
            .map(|t| format!("{:.1} ms", t.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
    );
    Ok(())
}

fn policy_benches(c: &mut Criterion) -> BenchResult<()> {
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string()))
            .unwrap_or_else(|| "unknown CPU".to_string())
    );
    let sets = write_sets()?;
    let mut engines = Vec::new();
    for (name, dir) in &sets {
        let engine = PolicyEngine::load(&PolicySource::Dir(dir.clone()))?;
        let request = member_write(USER, WORKSPACE);
        let fresh = engine.decide_fresh(&request);
        if !fresh.allowed || engine.decide(&request) != engine.decide(&request) {
            return Err(format!(
                "{name}: the benchmarked request must be allowed, alike each time"
            )
            .into());
        }
        println!(
            "{name}: {} policies; memo keys on ids: {}",
            engine.policy_count(),
            engine.reads().ids
        );
        engines.push((*name, engine));
    }

    let request = member_write(USER, WORKSPACE);
    let mut group = c.benchmark_group("policies/decide");
    for (name, engine) in &engines {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(engine.decide(black_box(&request))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("policies/evaluate");
    for (name, engine) in &engines {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(engine.decide_fresh(black_box(&request))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("policies/load");
    group.sample_size(10);
    for (name, dir) in &sets {
        let source = PolicySource::Dir(dir.clone());
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(PolicyEngine::load(&source).map(|e| e.policy_count()).ok()))
        });
    }
    group.finish();

    for (name, dir) in &sets {
        time_checked_load(name, dir)?;
    }
    if let Some((_, dir)) = sets.first()
        && let Some(root) = dir.parent()
    {
        std::fs::remove_dir_all(root)?;
    }
    Ok(())
}

fn benches(c: &mut Criterion) {
    if let Err(e) = policy_benches(c) {
        eprintln!("benchmark setup failed: {e}");
        std::process::exit(1);
    }
}

criterion_group! {
    name = policies;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(policies);
