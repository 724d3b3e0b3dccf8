//! Benchmarks of the WRNexus decision path; see `benches/decision.rs`.
//! Run with `cargo bench -p wrnexus-benches`.
