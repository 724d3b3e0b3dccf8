//! Nearest-rank quantiles of measured samples, as every harness reports
//! them (no interpolation: each figure is a sample that was measured).

/// The `q`-quantile (0 < q ≤ 1) of `sorted` (ascending), nearest rank;
/// `None` when there is no sample.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The `p`-th percentile of `samples` in any order, nearest rank; NaN
/// when there is no sample.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, p / 100.0).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_samples_by_nearest_rank() {
        let s: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(quantile(&[], 0.5), None);
    }
}
