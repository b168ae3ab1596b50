//! Metrics through the [`metrics`] facade: names, help texts, and cached handles.
//!
//! The pool installs no exporter; the embedding program (or the `conveyor` binary) does.
//! Install the recorder before building the pool: handles are resolved when a pool first
//! sees a kind and then cached, so that recording costs a few atomic operations per job
//! instead of a registry lookup.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::error::Outcome;

/// `conveyor_jobs_submitted_total{kind}`: jobs accepted by `submit`.
pub const JOBS_SUBMITTED_TOTAL: &str = "conveyor_jobs_submitted_total";
/// `conveyor_jobs_finished_total{kind,outcome}`: jobs resolved, by outcome.
pub const JOBS_FINISHED_TOTAL: &str = "conveyor_jobs_finished_total";
/// `conveyor_job_retries_total{kind}`: retries scheduled.
pub const JOB_RETRIES_TOTAL: &str = "conveyor_job_retries_total";
/// `conveyor_job_wait_seconds{kind}`: from submit (or the end of a retry delay) to start.
pub const JOB_WAIT_SECONDS: &str = "conveyor_job_wait_seconds";
/// `conveyor_job_run_seconds{kind}`: one attempt's run time.
pub const JOB_RUN_SECONDS: &str = "conveyor_job_run_seconds";
/// `conveyor_queue_depth`: jobs waiting in the queue.
pub const QUEUE_DEPTH: &str = "conveyor_queue_depth";
/// `conveyor_jobs_running`: attempts running now.
pub const JOBS_RUNNING: &str = "conveyor_jobs_running";
/// `conveyor_workers`: the pool's worker count.
pub const WORKERS: &str = "conveyor_workers";

/// Registers units and help texts for every metric with the installed recorder (exporters
/// print them as `# HELP`). The pool calls it when built with metrics on; calling it again
/// is harmless.
///
/// # Examples
///
/// ```
/// conveyor_pool::metrics::describe();
/// ```
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(JOBS_SUBMITTED_TOTAL, Unit::Count, "Jobs accepted by the pool.");
    describe_counter!(JOBS_FINISHED_TOTAL, Unit::Count, "Jobs resolved, by final outcome.");
    describe_counter!(JOB_RETRIES_TOTAL, Unit::Count, "Retries scheduled after a failed attempt.");
    describe_histogram!(
        JOB_WAIT_SECONDS,
        Unit::Seconds,
        "Time from submit (or the end of a retry delay) to the start of an attempt."
    );
    describe_histogram!(JOB_RUN_SECONDS, Unit::Seconds, "Run time of one attempt.");
    describe_gauge!(QUEUE_DEPTH, Unit::Count, "Jobs waiting in the queue.");
    describe_gauge!(JOBS_RUNNING, Unit::Count, "Attempts running now.");
    describe_gauge!(WORKERS, Unit::Count, "Workers in the pool.");
}

/// Whether a metrics recorder (global, or local to this thread) is installed: what the
/// facade falls back to without one is its no-op recorder, the one recorder without
/// state (a zero-sized type). A pool built with no recorder records no metrics by default
/// (see [`PoolBuilder::metrics`](crate::PoolBuilder::metrics)), so it pays nothing for them.
///
/// # Examples
///
/// ```
/// // No recorder in a doc-test.
/// assert!(!conveyor_pool::metrics::recorder_installed());
/// ```
pub fn recorder_installed() -> bool {
    metrics::with_recorder(|recorder| std::mem::size_of_val(recorder) != 0)
}

/// The handles of one kind.
pub(crate) struct KindMetrics {
    pub(crate) submitted: Counter,
    pub(crate) finished: [Counter; 5],
    pub(crate) retries: Counter,
    pub(crate) wait: Histogram,
    pub(crate) run: Histogram,
}

impl KindMetrics {
    fn new(kind: &str) -> Self {
        let kind = kind.to_owned();
        let finished = Outcome::ALL.map(|outcome| {
            metrics::counter!(JOBS_FINISHED_TOTAL, "kind" => kind.clone(), "outcome" => outcome.as_str())
        });
        KindMetrics {
            submitted: metrics::counter!(JOBS_SUBMITTED_TOTAL, "kind" => kind.clone()),
            finished,
            retries: metrics::counter!(JOB_RETRIES_TOTAL, "kind" => kind.clone()),
            wait: metrics::histogram!(JOB_WAIT_SECONDS, "kind" => kind.clone()),
            run: metrics::histogram!(JOB_RUN_SECONDS, "kind" => kind),
        }
    }
}

/// A pool's metric handles.
pub(crate) struct Metrics {
    kinds: Mutex<HashMap<Arc<str>, Arc<KindMetrics>>>,
    /// The handles of the pool's default kind, used without a lookup.
    pub(crate) default_kind: KindMetrics,
    pub(crate) depth: Gauge,
    pub(crate) running: Gauge,
    pub(crate) workers: Gauge,
}

impl Metrics {
    /// The handles of `default_kind` and of every kind in `known` are made now, so their
    /// series start at zero.
    pub(crate) fn new(default_kind: &str, known: &[Arc<str>]) -> Self {
        describe();
        let kinds = known.iter().map(|k| (k.clone(), Arc::new(KindMetrics::new(k)))).collect();
        Metrics {
            kinds: Mutex::new(kinds),
            default_kind: KindMetrics::new(default_kind),
            depth: metrics::gauge!(QUEUE_DEPTH),
            running: metrics::gauge!(JOBS_RUNNING),
            workers: metrics::gauge!(WORKERS),
        }
    }

    /// The handles for `kind`, and the pool's shared copy of the label.
    pub(crate) fn kind(&self, kind: &Arc<str>) -> Arc<KindMetrics> {
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = kinds.get(kind) {
            return m.clone();
        }
        let m = Arc::new(KindMetrics::new(kind));
        kinds.insert(kind.clone(), m.clone());
        m
    }
}

/// Metric updates a worker holds back and applies in one go before its next visit to the
/// queue, or before it waits (see the worker's "Batches"): the queue depth's decrements for
/// the jobs it took, and the pool's default kind's finished counts. Each is an atomic
/// operation on a line every core writes (a gauge is a compare-and-swap loop on an `f64`),
/// so a batch of quick jobs pays one each instead of one per job. Totals are exact; they
/// show at most one batch of quick jobs late.
///
/// Only its worker's task touches it (the attempts it runs are awaited by that task), so
/// the counts are plain loads and stores, not read-modify-writes; atomics only make it
/// shareable with the attempt futures, which must be `Send`.
#[derive(Default)]
pub(crate) struct Deferred {
    dequeued: AtomicU64,
    finished: [AtomicU64; 5],
}

fn bump(count: &AtomicU64) {
    count.store(count.load(Relaxed) + 1, Relaxed);
}

fn take(count: &AtomicU64) -> u64 {
    let n = count.load(Relaxed);
    if n != 0 {
        count.store(0, Relaxed);
    }
    n
}

impl Deferred {
    /// A job taken out of the queue: one less queued.
    pub(crate) fn dequeued(&self) {
        bump(&self.dequeued);
    }

    /// A job of the default kind resolved with `outcome`.
    pub(crate) fn finished(&self, outcome: Outcome) {
        bump(&self.finished[outcome.index()]);
    }

    /// Applies what was held back to `metrics`.
    pub(crate) fn flush(&self, metrics: &Metrics) {
        let dequeued = take(&self.dequeued);
        if dequeued != 0 {
            metrics.depth.decrement(dequeued as f64);
        }
        for (count, counter) in self.finished.iter().zip(&metrics.default_kind.finished) {
            let n = take(count);
            if n != 0 {
                counter.increment(n);
            }
        }
    }
}
