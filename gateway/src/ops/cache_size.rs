//! The decision-data cache's size on `/metrics`, read when scraped (so the
//! request path counts nothing): `wrnexus_gateway_cache_entries` against
//! `wrnexus_gateway_cache_capacity`, to size `cache_capacity` by (a
//! signed-in principal takes four entries).

use crate::data::cache::LocalCache;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, Registry};
use std::sync::Arc;

/// Reads the cache's length at each scrape.
struct CacheSize {
    cache: Arc<LocalCache>,
    entries: IntGauge,
    capacity: IntGauge,
}

impl Collector for CacheSize {
    fn desc(&self) -> Vec<&Desc> {
        self.entries
            .desc()
            .into_iter()
            .chain(self.capacity.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.entries
            .set(i64::try_from(self.cache.len()).unwrap_or(i64::MAX));
        self.capacity
            .set(i64::try_from(self.cache.capacity()).unwrap_or(i64::MAX));
        self.entries
            .collect()
            .into_iter()
            .chain(self.capacity.collect())
            .collect()
    }
}

/// Expose `cache`'s size in `registry`.
pub fn register(registry: &Registry, cache: Arc<LocalCache>) -> prometheus::Result<()> {
    let entries = IntGauge::new(
        "wrnexus_gateway_cache_entries",
        "Decision-data entries held in memory (a signed-in principal takes four; invalidation \
         tombstones count too)",
    )?;
    let capacity = IntGauge::new(
        "wrnexus_gateway_cache_capacity",
        "Most decision-data entries held in memory (cache_capacity)",
    )?;
    registry.register(Box::new(CacheSize {
        cache,
        entries,
        capacity,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use wrnexus_policies::{Entry, VersionedEntry};

    #[test]
    fn a_scrape_reads_the_cache_as_it_is() -> Result<(), Box<dyn std::error::Error>> {
        let registry = Registry::new();
        let cache = Arc::new(LocalCache::new(100));
        register(&registry, cache.clone())?;
        let value = |name: &str| {
            registry
                .gather()
                .iter()
                .find(|f| f.name() == name)
                .and_then(|f| f.get_metric().first().map(|m| m.get_gauge().get_value()))
        };
        assert_eq!(value("wrnexus_gateway_cache_entries"), Some(0.0));
        assert_eq!(value("wrnexus_gateway_cache_capacity"), Some(100.0));
        for i in 0..3 {
            let entry = Arc::new(VersionedEntry {
                version: 1,
                entry: Entry::Missing,
            });
            cache.insert(&format!("user:{i}"), entry, Instant::now());
        }
        assert_eq!(value("wrnexus_gateway_cache_entries"), Some(3.0));
        Ok(())
    }
}
