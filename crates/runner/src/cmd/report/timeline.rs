//! Jobs finished over time, by outcome, in memory that does not grow with the run: counts
//! per time bucket, whose width grows (along a ladder of round widths, each a multiple of
//! the one before) whenever there would be more than [`MAX_FINE`] buckets.

use std::collections::BTreeMap;

use conveyor_pool::Outcome;

/// Bucket widths in milliseconds: each a multiple of the previous one, so that buckets merge
/// exactly, and each a width people read (per 2 s, per 10 min).
const LADDER_MS: &[i64] = &[
    1,
    2,
    10,
    20,
    100,
    200,
    1_000,
    2_000,
    10_000,
    20_000,
    60_000,
    120_000,
    600_000,
    1_200_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
    1_209_600_000,
    4_838_400_000,
    29_030_400_000,
    290_304_000_000,
    2_903_040_000_000,
    29_030_400_000_000,
];

/// The most buckets kept while reading.
const MAX_FINE: usize = 2048;

/// The most bars drawn.
pub(super) const MAX_BARS: usize = 60;

/// Counts of finished jobs per time bucket and outcome.
#[derive(Debug, Clone, Default)]
pub(super) struct Timeline {
    /// Index into [`LADDER_MS`].
    rung: usize,
    /// Bucket number (finish time / width, floored) → counts by outcome.
    buckets: BTreeMap<i64, [u64; 5]>,
}

/// The timeline as drawn: at most [`MAX_BARS`] buckets of equal width, gaps included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bars {
    /// Where the first bucket starts, in nanoseconds since the Unix epoch.
    pub(super) start: i64,
    /// Each bucket's width, in nanoseconds.
    pub(super) width: i64,
    /// Counts by outcome (in [`Outcome::ALL`] order) for each bucket.
    pub(super) counts: Vec<[u64; 5]>,
}

fn width_ns(rung: usize) -> i64 {
    LADDER_MS[rung] * 1_000_000
}

impl Timeline {
    /// Counts one job that reached `outcome` at `finished_at` (nanoseconds since the epoch).
    pub(super) fn add(&mut self, finished_at: i64, outcome: Outcome) {
        let key = finished_at.div_euclid(width_ns(self.rung));
        self.buckets.entry(key).or_default()[index(outcome)] += 1;
        while self.buckets.len() > MAX_FINE && self.rung + 1 < LADDER_MS.len() {
            self.widen(self.rung + 1);
        }
    }

    /// Merges buckets into those of ladder rung `rung`.
    fn widen(&mut self, rung: usize) {
        let factor = width_ns(rung) / width_ns(self.rung);
        let old = std::mem::take(&mut self.buckets);
        for (key, counts) in old {
            let merged = self.buckets.entry(key.div_euclid(factor)).or_default();
            for (m, c) in merged.iter_mut().zip(counts) {
                *m += c;
            }
        }
        self.rung = rung;
    }

    /// The bars to draw: the narrowest ladder width that spans the run in at most
    /// [`MAX_BARS`] buckets; `None` if nothing was added.
    pub(super) fn bars(&self) -> Option<Bars> {
        let (&first, _) = self.buckets.first_key_value()?;
        let (&last, _) = self.buckets.last_key_value()?;
        let fine = width_ns(self.rung);
        let span = (last - first + 1).saturating_mul(fine);
        let rung = (self.rung..LADDER_MS.len())
            .find(|&r| span / width_ns(r) < MAX_BARS as i64)
            .unwrap_or(LADDER_MS.len() - 1);
        let factor = width_ns(rung) / fine;
        let start_key = first.div_euclid(factor);
        let len = (last.div_euclid(factor) - start_key + 1) as usize;
        let mut counts = vec![[0u64; 5]; len];
        for (key, c) in &self.buckets {
            let bar = &mut counts[(key.div_euclid(factor) - start_key) as usize];
            for (b, c) in bar.iter_mut().zip(c) {
                *b += c;
            }
        }
        Some(Bars { start: start_key * width_ns(rung), width: width_ns(rung), counts })
    }
}

/// The position of `outcome` in [`Outcome::ALL`].
pub(super) fn index(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|&o| o == outcome).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_short_run_gets_fine_buckets() {
        let mut t = Timeline::default();
        let t0 = 1_700_000_000 * S;
        t.add(t0, Outcome::Succeeded);
        t.add(t0 + 3_000_000, Outcome::Failed);
        t.add(t0 + 3_500_000, Outcome::Failed);
        let bars = t.bars().unwrap();
        assert_eq!((bars.start, bars.width), (t0, 1_000_000));
        assert_eq!(bars.counts.len(), 4);
        assert_eq!(bars.counts[0], [1, 0, 0, 0, 0]);
        assert_eq!(bars.counts[3], [0, 2, 0, 0, 0]);
    }

    #[test]
    fn a_long_run_widens_without_losing_a_job() {
        let mut t = Timeline::default();
        let t0 = 1_700_000_000 * S;
        // One job a second for an hour, then one a day later.
        for i in 0..3600 {
            t.add(t0 + i * S, if i % 10 == 0 { Outcome::TimedOut } else { Outcome::Succeeded });
        }
        t.add(t0 + 86_400 * S, Outcome::Cancelled);
        assert!(t.buckets.len() <= MAX_FINE);
        let bars = t.bars().unwrap();
        assert!(bars.counts.len() <= MAX_BARS, "{}", bars.counts.len());
        assert_eq!(bars.width, 3_600 * S);
        let total: [u64; 5] = bars.counts.iter().fold([0; 5], |mut a, c| {
            a.iter_mut().zip(c).for_each(|(a, c)| *a += c);
            a
        });
        assert_eq!(total, [3240, 0, 0, 360, 1]);
        assert!(bars.start <= t0 && bars.start + bars.width * bars.counts.len() as i64 > t0 + 86_400 * S);
    }

    #[test]
    fn times_before_the_epoch_do_not_break_the_buckets() {
        let mut t = Timeline::default();
        t.add(-5, Outcome::Succeeded);
        t.add(5, Outcome::Succeeded);
        let bars = t.bars().unwrap();
        assert_eq!(bars.counts.iter().map(|c| c[0]).sum::<u64>(), 2);
        assert!(Timeline::default().bars().is_none());
    }

    #[test]
    fn the_ladder_is_a_chain_of_multiples() {
        for w in LADDER_MS.windows(2) {
            assert_eq!(w[1] % w[0], 0, "{w:?}");
        }
    }
}
