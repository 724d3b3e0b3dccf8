//! What the fleet harnesses (`src/bin`) share with the end-to-end
//! library: its boxed errors as `anyhow`'s.

/// A result of the e2e library (`wrnexus_e2e::TestResult`) as `anyhow`'s.
pub fn e2e<T>(result: wrnexus_e2e::TestResult<T>) -> anyhow::Result<T> {
    result.map_err(|e| anyhow::anyhow!("{e}"))
}
