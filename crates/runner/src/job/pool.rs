//! [`PoolSettings`]: the runner's pool, built in one place from the resolved flags, with the
//! runner's defaults for what no flag sets ([`CANCEL_GRACE`], [`DEFAULT_KIND`], no event
//! stream).

use std::time::Duration;

use conveyor_pool::{Finished, Pool};

use super::{CANCEL_GRACE, DEFAULT_KIND};
use crate::spec::{JobKind, Limits};

/// What the runner's pool is made of: the flags of `run`, `serve` or the queue worker,
/// resolved. Everything else is the same in every command: cancelled attempts get
/// [`CANCEL_GRACE`] to clean up, jobs without a kind are labelled [`DEFAULT_KIND`], every
/// kind's metric series exist from the start, and there is no event stream (the finish hook
/// reports every job).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings<'a> {
    /// `--workers`.
    pub(crate) workers: usize,
    /// `--capacity`: jobs queued at most.
    pub(crate) capacity: usize,
    /// Whether a metrics recorder is installed (the pool then emits its metrics).
    pub(crate) metrics: bool,
    /// `--timeout`: the timeout of jobs that set none.
    pub(crate) default_timeout: Option<Duration>,
    /// The job files' `limits`: a job's `concurrency_key` selects both kinds, unless its
    /// `rate_key` selects the rate limit.
    pub(crate) limits: Option<&'a Limits>,
}

impl PoolSettings<'_> {
    /// The pool, calling `on_finish` with every job's report on the thread that ran it
    /// (a caller that awaits its jobs' handles instead passes `|_| {}`).
    pub(crate) fn build(&self, on_finish: impl Fn(&Finished) + Send + Sync + 'static) -> Pool {
        let mut builder = Pool::builder()
            .workers(self.workers)
            .capacity(self.capacity)
            .grace(CANCEL_GRACE)
            .event_buffer(0)
            .metrics(self.metrics)
            .metric_kinds(JobKind::NAMES.iter().copied())
            .default_kind(DEFAULT_KIND);
        if let Some(t) = self.default_timeout {
            builder = builder.default_timeout(t);
        }
        if let Some(limits) = self.limits {
            for (key, n) in &limits.concurrency {
                builder = builder.concurrency_limit(key.as_str(), *n as usize);
            }
            for (key, rate) in &limits.rate {
                builder = builder.rate_limit(key.as_str(), rate.count, rate.period);
            }
        }
        builder.on_finish(on_finish).build()
    }
}
