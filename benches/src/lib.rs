//! Benchmarks of the WRNexus decision path (`benches/decision.rs`,
//! `benches/policies.rs`; run with `cargo bench -p wrnexus-benches`), the
//! harnesses of its fleet benchmarks (`src/bin`), and what they share.

pub mod harness;
pub mod machine;
pub mod policy_sets;
pub mod requests;
pub mod stats;
