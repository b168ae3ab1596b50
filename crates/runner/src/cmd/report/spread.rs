//! A distribution of durations (wait or run time) for the report: counts in log-scale
//! buckets with round edges (1, 2, 5 × a power of ten), for the chart, and percentiles from
//! the summary's fine histogram, for the table. Fixed size whatever the number of jobs.

use std::time::Duration;

use crate::summary::Histogram;

/// Bucket edges in nanoseconds: 1 µs, 2 µs, 5 µs, 10 µs … 10 000 s. Bucket 0 is below the
/// first edge, the last bucket at or above the last.
const EDGES: [u64; 31] = {
    let mut edges = [0u64; 31];
    let mut i = 0;
    let mut decade = 1_000u64;
    while i < 31 {
        edges[i] = decade;
        edges[i + 1] = decade * 2;
        edges[i + 2] = decade * 5;
        decade *= 10;
        i += 3;
        if i + 3 > 31 {
            edges[i] = decade;
            i += 1;
        }
    }
    edges
};

/// Counts of durations by bucket, and their percentiles.
#[derive(Debug, Clone, Default)]
pub(super) struct Spread {
    counts: [u64; EDGES.len() + 1],
    fine: Histogram,
}

/// One bar of the chart: durations in `[low, high)` (`high` `None`: no upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bucket {
    /// The lower edge (zero for the first bucket).
    pub(super) low: Duration,
    /// The upper edge, if any.
    pub(super) high: Option<Duration>,
    /// Durations in the bucket.
    pub(super) count: u64,
}

impl Spread {
    /// Adds one duration.
    pub(super) fn add(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = EDGES.partition_point(|&edge| edge <= ns);
        self.counts[i] += 1;
        self.fine.record(d);
    }

    /// Durations added.
    pub(super) fn count(&self) -> u64 {
        self.fine.count()
    }

    /// The value below which a fraction `q` of the durations lie (within 1 %).
    pub(super) fn percentile(&self, q: f64) -> Duration {
        self.fine.percentile(q)
    }

    /// The largest duration added.
    pub(super) fn max(&self) -> Duration {
        self.fine.max()
    }

    /// The buckets from the first non-empty one to the last (none when empty).
    pub(super) fn buckets(&self) -> Vec<Bucket> {
        let first = self.counts.iter().position(|&c| c > 0);
        let last = self.counts.iter().rposition(|&c| c > 0);
        let (Some(first), Some(last)) = (first, last) else { return Vec::new() };
        (first..=last)
            .map(|i| Bucket {
                low: Duration::from_nanos(if i == 0 { 0 } else { EDGES[i - 1] }),
                high: EDGES.get(i).map(|&ns| Duration::from_nanos(ns)),
                count: self.counts[i],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_round_and_rising() {
        assert_eq!(&EDGES[..4], &[1_000, 2_000, 5_000, 10_000]);
        assert!(EDGES.windows(2).all(|w| w[0] < w[1]), "{EDGES:?}");
        assert_eq!(EDGES[EDGES.len() - 1], 10_000_000_000_000);
    }

    #[test]
    fn durations_land_in_their_bucket_and_empty_ends_are_trimmed() {
        let mut s = Spread::default();
        for d in [Duration::from_micros(3), Duration::from_micros(4), Duration::from_millis(1)] {
            s.add(d);
        }
        let b = s.buckets();
        assert_eq!(
            b.first().copied(),
            Some(Bucket { low: Duration::from_micros(2), high: Some(Duration::from_micros(5)), count: 2 })
        );
        assert_eq!(b.last().map(|b| (b.low, b.count)), Some((Duration::from_millis(1), 1)));
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 3);
        assert_eq!(s.max(), Duration::from_millis(1));
        assert_eq!(s.count(), 3);
    }

    #[test]
    fn the_ends_are_open() {
        let mut s = Spread::default();
        s.add(Duration::ZERO);
        s.add(Duration::from_secs(1_000_000));
        let b = s.buckets();
        assert_eq!((b[0].low, b[0].high), (Duration::ZERO, Some(Duration::from_micros(1))));
        assert_eq!(b.last().map(|b| b.high), Some(None));
        assert_eq!(b.len(), EDGES.len() + 1);
    }
}
