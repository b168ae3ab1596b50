//! The end-of-run summary: counts by outcome, throughput, and wait/run time percentiles, as a
//! table for people or as DESIGN.md's JSON object.
//!
//! Percentiles come from a [`Histogram`] of fixed size (log-linear buckets, under 1 % relative
//! error, ~60 KiB), so a run of a million jobs summarises in the same memory as a run of ten.

use std::fmt::Write as _;
use std::time::Duration;

use conveyor_pool::Outcome;
use serde::Serialize;
use serde_json::Value;

/// Sub-buckets per power of two: 2^7 = 128, so a value is known to within 1/128.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for every `u64`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// A histogram of durations (nanoseconds) in log-linear buckets: values below 128 ns are
/// exact, larger ones are kept to within 1/128 of their value. The maximum is kept exactly.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::summary::Histogram;
///
/// let mut h = Histogram::new();
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// let p50 = h.percentile(0.5).as_secs_f64();
/// assert!((p50 - 0.050).abs() < 0.001, "{p50}");
/// assert_eq!(h.max(), Duration::from_millis(100));
/// ```
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let shift = exp - SUB_BITS;
    let mantissa = v >> shift; // in [SUB, 2·SUB)
    ((shift as u64 + 1) * SUB + (mantissa - SUB)) as usize
}

/// The middle of bucket `i`'s range.
fn value_of(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let mantissa = i % SUB + SUB;
    (mantissa << shift) + ((1u64 << shift) >> 1)
}

impl Histogram {
    /// An empty histogram.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::summary::Histogram::new().count(), 0);
    /// ```
    pub fn new() -> Histogram {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, max: 0 }
    }

    /// Adds one value.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut h = conveyor::summary::Histogram::new();
    /// h.record(std::time::Duration::from_micros(3));
    /// assert_eq!(h.count(), 1);
    /// ```
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    /// Values recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::summary::Histogram::new().count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (zero when empty).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::summary::Histogram::new().max(), std::time::Duration::ZERO);
    /// ```
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The value below which a fraction `q` (0..=1) of the values lie (nearest rank); zero
    /// when empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut h = conveyor::summary::Histogram::new();
    /// h.record(Duration::from_nanos(5));
    /// h.record(Duration::from_nanos(7));
    /// assert_eq!(h.percentile(0.5), Duration::from_nanos(5));
    /// assert_eq!(h.percentile(1.0), Duration::from_nanos(7));
    /// ```
    pub fn percentile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(value_of(i).min(self.max));
            }
        }
        Duration::from_nanos(self.max)
    }
}

/// What a run did, gathered as ledger records arrive.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Jobs by outcome, in [`Outcome::ALL`] order.
    pub by_outcome: [u64; 5],
    /// Jobs `--resume` skipped.
    pub skipped: u64,
    /// Attempts beyond the first, over all jobs.
    pub retries: u64,
    /// Submit (or load) to first start, per job that started.
    pub wait: Histogram,
    /// Total run time of all attempts, per job that started.
    pub run: Histogram,
}

/// The index of `outcome` in [`Stats::by_outcome`].
///
/// # Examples
///
/// ```
/// use conveyor_pool::Outcome;
/// assert_eq!(conveyor::summary::outcome_index(Outcome::Cancelled), 4);
/// ```
pub fn outcome_index(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)
}

impl Stats {
    /// Counts one finished job.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conveyor_pool::Outcome;
    /// let mut s = conveyor::summary::Stats::default();
    /// s.record(Outcome::Succeeded, 3, Some((Duration::ZERO, Duration::from_millis(5))));
    /// assert_eq!((s.jobs(), s.retries), (1, 2));
    /// ```
    pub fn record(&mut self, outcome: Outcome, attempts: u32, times: Option<(Duration, Duration)>) {
        self.by_outcome[outcome_index(outcome)] += 1;
        self.retries += u64::from(attempts.saturating_sub(1));
        if let Some((wait, run)) = times {
            self.wait.record(wait);
            self.run.record(run);
        }
    }

    /// Jobs counted, skipped ones included.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::summary::Stats::default().jobs(), 0);
    /// ```
    pub fn jobs(&self) -> u64 {
        self.by_outcome.iter().sum::<u64>() + self.skipped
    }

    /// Jobs that ended with `outcome`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Outcome;
    /// assert_eq!(conveyor::summary::Stats::default().count(Outcome::Failed), 0);
    /// ```
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.by_outcome[outcome_index(outcome)]
    }

    /// Whether every job succeeded (or was skipped as already succeeded).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::summary::Stats::default().all_succeeded());
    /// ```
    pub fn all_succeeded(&self) -> bool {
        self.jobs() == self.count(Outcome::Succeeded) + self.skipped
    }
}

/// Seconds with microsecond precision, for JSON.
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// The JSON summary, fields in DESIGN.md's order.
#[derive(Serialize)]
struct JsonSummary {
    jobs: u64,
    succeeded: u64,
    failed: u64,
    panicked: u64,
    timed_out: u64,
    cancelled: u64,
    skipped: u64,
    retries: u64,
    elapsed_seconds: f64,
    jobs_per_second: f64,
    wait_seconds: Percentiles,
    run_seconds: Percentiles,
}

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn percentiles(h: &Histogram) -> Percentiles {
    Percentiles {
        p50: secs(h.percentile(0.50)),
        p90: secs(h.percentile(0.90)),
        p99: secs(h.percentile(0.99)),
        max: secs(h.max()),
    }
}

/// A finished run's summary.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The counts and timings.
    pub stats: Stats,
    /// Wall time of the run, from start to the last job's end.
    pub elapsed: Duration,
}

impl Summary {
    /// Jobs run per second of `elapsed`: jobs that started (whatever their outcome); skipped
    /// jobs and jobs cancelled before they started are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::summary::{Stats, Summary};
    /// let s = Summary { stats: Stats::default(), elapsed: std::time::Duration::from_secs(1) };
    /// assert_eq!(s.jobs_per_second(), 0.0);
    /// ```
    pub fn jobs_per_second(&self) -> f64 {
        let done = self.stats.wait.count();
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { done as f64 / secs } else { 0.0 }
    }

    /// DESIGN.md's JSON object: `{"jobs", "succeeded", "failed", "panicked", "timed_out",
    /// "cancelled", "skipped", "retries", "elapsed_seconds", "jobs_per_second",
    /// "wait_seconds": {"p50", "p90", "p99", "max"}, "run_seconds": {...}}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::summary::{Stats, Summary};
    /// let s = Summary { stats: Stats::default(), elapsed: std::time::Duration::from_millis(1500) };
    /// let v = s.to_json();
    /// assert_eq!(v["jobs"], 0);
    /// assert_eq!(v["elapsed_seconds"], 1.5);
    /// assert_eq!(v["wait_seconds"]["p99"], 0.0);
    /// ```
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.to_json_line()).unwrap_or(Value::Null)
    }

    /// [`to_json`](Self::to_json) as one line of text, fields in DESIGN.md's order (`jobs`
    /// first, `run_seconds` last), no newline.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::summary::{Stats, Summary};
    /// let s = Summary { stats: Stats::default(), elapsed: std::time::Duration::ZERO };
    /// assert!(s.to_json_line().starts_with(r#"{"jobs":0,"succeeded":0,"failed":0,"#));
    /// ```
    pub fn to_json_line(&self) -> String {
        let s = &self.stats;
        let summary = JsonSummary {
            jobs: s.jobs(),
            succeeded: s.count(Outcome::Succeeded),
            failed: s.count(Outcome::Failed),
            panicked: s.count(Outcome::Panicked),
            timed_out: s.count(Outcome::TimedOut),
            cancelled: s.count(Outcome::Cancelled),
            skipped: s.skipped,
            retries: s.retries,
            elapsed_seconds: secs(self.elapsed),
            jobs_per_second: (self.jobs_per_second() * 100.0).round() / 100.0,
            wait_seconds: percentiles(&s.wait),
            run_seconds: percentiles(&s.run),
        };
        serde_json::to_string(&summary).unwrap_or_default()
    }

    /// The table for people.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::summary::{Stats, Summary};
    /// let s = Summary { stats: Stats::default(), elapsed: std::time::Duration::from_secs(2) };
    /// assert!(s.to_human().starts_with("jobs"));
    /// ```
    pub fn to_human(&self) -> String {
        let s = &self.stats;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "jobs     {:>9}   succeeded {}, failed {}, panicked {}, timed_out {}, cancelled {}, skipped {}",
            s.jobs(),
            s.count(Outcome::Succeeded),
            s.count(Outcome::Failed),
            s.count(Outcome::Panicked),
            s.count(Outcome::TimedOut),
            s.count(Outcome::Cancelled),
            s.skipped,
        );
        let _ = writeln!(out, "retries  {:>9}", s.retries);
        let _ = writeln!(
            out,
            "elapsed  {:>9}   {:.1} jobs/s",
            human_duration(self.elapsed),
            self.jobs_per_second()
        );
        let _ = writeln!(out, "time     {:>9} {:>8} {:>8} {:>8}", "p50", "p90", "p99", "max");
        for (label, h) in [("wait", &s.wait), ("run", &s.run)] {
            let _ = writeln!(
                out,
                "{label:<9}{:>9} {:>8} {:>8} {:>8}",
                human_duration(h.percentile(0.50)),
                human_duration(h.percentile(0.90)),
                human_duration(h.percentile(0.99)),
                human_duration(h.max()),
            );
        }
        out
    }
}

/// A duration in 3–4 significant characters: `0s`, `850ns`, `12.3µs`, `4.56ms`, `1.20s`,
/// `2m05s`, `1h02m`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conveyor::summary::human_duration;
/// assert_eq!(human_duration(Duration::from_micros(1500)), "1.50ms");
/// assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
/// ```
pub fn human_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let three = |v: f64, unit: &str| {
        if v >= 100.0 {
            format!("{v:.0}{unit}")
        } else if v >= 10.0 {
            format!("{v:.1}{unit}")
        } else {
            format!("{v:.2}{unit}")
        }
    };
    match ns {
        0 => "0s".to_owned(),
        1..=999 => format!("{ns}ns"),
        1_000..=999_999 => three(ns as f64 / 1e3, "µs"),
        1_000_000..=999_999_999 => three(ns as f64 / 1e6, "ms"),
        _ => {
            let secs = d.as_secs();
            if secs < 60 {
                three(d.as_secs_f64(), "s")
            } else if secs < 3600 {
                format!("{}m{:02}s", secs / 60, secs % 60)
            } else {
                format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_one_percent() {
        for v in [0u64, 1, 127, 128, 129, 1000, 123_456, 9_999_999_999, u64::MAX / 3] {
            let back = value_of(bucket_of(v));
            let err = (back as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.01, "{v} -> {back}");
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut last = 0;
        for v in 0..200_000u64 {
            let b = bucket_of(v);
            assert!(b >= last, "{v}");
            last = b;
        }
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for i in 1..=10_000u64 {
            h.record(Duration::from_micros(i));
        }
        let p = |q| h.percentile(q).as_secs_f64() * 1e6;
        assert!((p(0.5) - 5000.0).abs() < 50.0);
        assert!((p(0.9) - 9000.0).abs() < 90.0);
        assert!((p(0.99) - 9900.0).abs() < 99.0);
        assert_eq!(h.max(), Duration::from_millis(10));
    }

    #[test]
    fn json_has_exactly_the_promised_keys() {
        let mut stats = Stats::default();
        stats.record(Outcome::Failed, 2, Some((Duration::ZERO, Duration::from_secs(1))));
        stats.skipped = 1;
        let v = Summary { stats, elapsed: Duration::from_secs(2) }.to_json();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "cancelled",
                "elapsed_seconds",
                "failed",
                "jobs",
                "jobs_per_second",
                "panicked",
                "retries",
                "run_seconds",
                "skipped",
                "succeeded",
                "timed_out",
                "wait_seconds"
            ]
        );
        assert_eq!(v["jobs"], 2);
        assert_eq!(v["retries"], 1);
        assert_eq!(v["jobs_per_second"], 0.5);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(human_duration(Duration::from_nanos(12_345)), "12.3µs");
        assert_eq!(human_duration(Duration::from_millis(1200)), "1.20s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h02m");
    }
}
