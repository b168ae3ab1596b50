//! One allocation per job: the typed cell that holds the job's body, its shared [`Core`],
//! and the slot its result is delivered through. The queue sees it as a [`Task`], the
//! attempt as a [`HasCore`], the handle as a [`ResultSlot`].

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::context::{HasCore, JobContext};
use crate::core::{Core, State};
use crate::error::JobError;
use crate::job::{AttemptFailure, AttemptResult, Run};
use crate::metrics::Deferred;
use crate::pool::Inner;
use crate::retry::AttemptError;
use crate::run::{BoxRun, Runner};

/// The worker that runs an attempt, and what it brings.
#[derive(Clone, Copy)]
pub(crate) struct RunBy<'a> {
    pub(crate) pool: &'a Arc<Inner>,
    /// A clock reading the worker took just before, without waiting since (the previous
    /// attempt's stop), which the attempt takes as its start instead of reading the clock
    /// again.
    pub(crate) now: Option<u64>,
    /// The index of the pool worker ([`JobContext::worker`]).
    pub(crate) worker: u32,
    /// That worker's held-back metric updates.
    pub(crate) deferred: &'a Deferred,
}

/// A job as the queue and the workers see it.
pub(crate) trait Task: HasCore + Any {
    /// Runs one attempt (or resolves the job at once if it was cancelled before starting),
    /// then the quick jobs of the same type that `w` has at hand: a [run](crate::run).
    fn run<'a>(self: Arc<Self>, by: RunBy<'a>, w: &'a mut dyn Runner) -> BoxRun<'a>;
    /// Resolves a job that will not run again with `err`.
    fn abandon(&self, pool: &Inner, err: JobError);
}

/// A job as its handle sees it.
pub(crate) trait ResultSlot<T>: HasCore {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>>;
    /// The result, if delivered, taken without the slot's lock: for a handle that holds the
    /// job's only reference (`Arc::get_mut`), one locked instruction instead of two.
    fn take_owned(&mut self) -> Option<Result<T, JobError>>;
    /// Whether the result was delivered (and maybe taken): the handle is ready. Later than
    /// the `FINISHED` state, which is claimed before the outcome is reported.
    fn is_ready(&self) -> bool;
}

/// Where a job's result stands. One enum rather than a value, a waker and a `taken` flag:
/// the waker is needed only until the value arrives, and the value only until it is taken,
/// so they share their bytes (for a `u64` result, 24 bytes instead of 48; see
/// `the_bench_cell_fits_its_size_class`).
enum Slot<T> {
    /// Not delivered yet; the handle's waker, once it polled.
    Waiting(Option<Waker>),
    /// Delivered, not taken yet.
    Ready(Result<T, JobError>),
    /// Delivered and taken by the handle.
    Taken,
}

impl<T> Slot<T> {
    /// The delivered result, leaving `Taken`; `None` (and the slot as it was) otherwise.
    fn take_ready(&mut self) -> Option<Result<T, JobError>> {
        if !matches!(self, Slot::Ready(_)) {
            return None;
        }
        match std::mem::replace(self, Slot::Taken) {
            Slot::Ready(result) => Some(result),
            Slot::Waiting(_) | Slot::Taken => None,
        }
    }
}

pub(crate) struct JobCell<R, T> {
    core: Core,
    body: R,
    slot: Mutex<Slot<T>>,
}

/// How an attempt ended.
enum AttemptEnd<T> {
    Done(AttemptResult<T>),
    TimedOut,
    Cancelled,
}

impl<R, T> JobCell<R, T>
where
    R: Run<T>,
    T: Send + 'static,
{
    pub(crate) fn new(core: Core, body: R) -> Self {
        JobCell { core, body, slot: Mutex::new(Slot::Waiting(None)) }
    }

    /// Gives the job back, for a submission that was refused after the cell was made. The
    /// options come back with the pool's defaults applied.
    pub(crate) fn into_job(self) -> crate::Job<R> {
        let (priority, shield) = (self.core.priority, self.core.shield);
        let o = self.core.into_options();
        crate::Job {
            run: self.body,
            options: crate::job::JobOptions {
                name: o.name,
                kind: o.kind,
                priority,
                timeout: o.timeout,
                retry: o.retry,
                shield,
                delay: None,
                not_before: None,
                key: o.key,
                rate_key: o.rate_key,
                tag: o.tag,
            },
        }
    }

    /// Delivers the outcome, exactly once: later calls are no-ops. `ended`: when the last
    /// attempt stopped, if the job resolves as it does.
    /// `deferred`: the worker's held-back metric updates, when a worker resolves it.
    fn finish(
        &self,
        pool: &Inner,
        result: Result<T, JobError>,
        ended: Option<u64>,
        deferred: Option<&Deferred>,
    ) {
        if !self.core.claim_finish() {
            return;
        }
        if let Err(err) = &result {
            // Only a failure can be unstarted: a job that succeeds pays nothing here.
            if self.core.attempts.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                self.core.finished_unstarted(err);
            }
        }
        pool.record_finish(&self.core, result.as_ref().err(), ended, deferred);
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            // `claim_finish` lets one caller through: the slot is still waiting.
            match std::mem::replace(&mut *slot, Slot::Ready(result)) {
                Slot::Waiting(waker) => waker,
                Slot::Ready(_) | Slot::Taken => unreachable!("a job's result delivered twice"),
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        pool.resolved();
    }

    /// One attempt; returns when it stopped, in the pool's nanoseconds, when timings are on
    /// and an attempt did run.
    pub(crate) async fn attempt(self: Arc<Self>, by: RunBy<'_>) -> Option<u64> {
        let RunBy { pool, now, worker, deferred } = by;
        let d = Some(deferred);
        let core = &self.core;
        if !core.begin(pool) {
            // Taken from the queue but not started: `started` will not count it out.
            pool.dequeued_unstarted(deferred);
            self.finish(pool, Err(core.stop_error(pool)), None, d);
            return None;
        }
        // A load and a store, not a read-modify-write (a locked instruction, ~6 ns): a job's
        // attempts run one after another, so nothing else writes this counter meanwhile.
        let attempt = core.attempts.load(std::sync::atomic::Ordering::Relaxed) + 1;
        core.attempts.store(attempt, std::sync::atomic::Ordering::Relaxed);
        if attempt == 1 {
            core.first_started();
        }
        let started = pool.started(core, attempt, now, deferred);
        let ctx = JobContext { job: self.clone(), attempt, worker };
        // Pinned here and lent to `drive`: moved into it, it would be kept twice (as its
        // argument and as its pinned local), and this future, held in a worker's boxed run, would
        // be twice as big.
        let body = std::pin::pin!(self.body.attempt(ctx));
        let (end, waited) = drive(body, core, pool, attempt).await;
        let ended = pool.stopped(core, started, waited);
        let failure = match end {
            AttemptEnd::Done(Ok(value)) => {
                self.finish(pool, Ok(value), ended, d);
                core.attempt_over();
                return ended;
            }
            AttemptEnd::Cancelled => {
                self.finish(pool, Err(JobError::Cancelled), ended, d);
                core.attempt_over();
                return ended;
            }
            AttemptEnd::TimedOut => JobError::TimedOut,
            AttemptEnd::Done(Err(AttemptFailure::Failed(e))) => JobError::Failed(e),
            AttemptEnd::Done(Err(AttemptFailure::Panicked(m))) => JobError::Panicked(m),
        };
        let retry = core.retry().and_then(|policy| {
            let seen = match &failure {
                JobError::Failed(e) => AttemptError::Failed(e.as_ref()),
                JobError::Panicked(m) => AttemptError::Panicked(m),
                _ => AttemptError::TimedOut,
            };
            policy.should_retry(attempt, &seen).then(|| policy.delay(attempt))
        });
        match retry {
            Some(delay) if !core.cancelled(pool) => {
                core.set_state(State::Retrying);
                pool.retry_scheduled(core, attempt, delay, &failure);
                pool.schedule(self.clone() as Arc<dyn Task>, delay);
            }
            _ => self.finish(pool, Err(failure), ended, d),
        }
        core.attempt_over();
        ended
    }
}

/// Runs one attempt to its end, its timeout, or its cancellation plus the grace period (for
/// attempts that watch their cancellation signal; others are dropped at once).
///
/// The attempt future is polled once on its own first: a job that completes at once (the
/// common case for short jobs) never creates a timer, never registers for the cancel signal,
/// and keeps this future small. Only a job that waits gets the boxed `stop` future beside it.
///
/// Returns how it ended, and whether it waited (was not done at its first poll).
async fn drive<T>(
    mut attempt_fut: Pin<&mut impl Future<Output = AttemptResult<T>>>,
    core: &Core,
    pool: &Inner,
    attempt: u32,
) -> (AttemptEnd<T>, bool) {
    let first = std::future::poll_fn(|cx| Poll::Ready(attempt_fut.as_mut().poll(cx))).await;
    let waited = first.is_pending();
    let result = match first {
        Poll::Ready(result) => Some(result),
        Poll::Pending => {
            pool.running();
            // Polled again at once, as the `select!` below would poll it first: a body that
            // only yielded (it woke itself, and is done now) then never makes the boxed
            // `stop` future.
            let second = std::future::poll_fn(|cx| Poll::Ready(attempt_fut.as_mut().poll(cx))).await;
            if let Poll::Ready(result) = second {
                return finish_drive(core, pool, attempt, Some(result), true);
            }
            let stop = Box::pin(async {
                match core.timeout() {
                    Some(limit) => tokio::select! {
                        _ = tokio::time::sleep(limit) => core.mark_timed_out(attempt),
                        _ = core.stopped(pool, attempt) => {}
                    },
                    None => core.stopped(pool, attempt).await,
                }
                // Only an attempt that watches its signal can be cleaning up: give it the
                // grace; one that never looked is dropped at once (like a tokio abort).
                if core.watched(attempt) {
                    tokio::time::sleep(pool.grace).await;
                }
            });
            tokio::select! {
                biased;
                result = attempt_fut.as_mut() => Some(result),
                _ = stop => None,
            }
        }
    };
    finish_drive(core, pool, attempt, result, waited)
}

/// How an attempt ended, from what its future returned (`None`: it was stopped).
fn finish_drive<T>(
    core: &Core,
    pool: &Inner,
    attempt: u32,
    result: Option<AttemptResult<T>>,
    waited: bool,
) -> (AttemptEnd<T>, bool) {
    // Whatever the future returned after it was told to stop, the stop decides the outcome.
    let end = if core.timed_out(attempt) {
        AttemptEnd::TimedOut
    } else if core.cancelled(pool) {
        AttemptEnd::Cancelled
    } else {
        match result {
            Some(r) => AttemptEnd::Done(r),
            None => AttemptEnd::Cancelled,
        }
    };
    (end, waited)
}

impl<R, T> HasCore for JobCell<R, T>
where
    R: Run<T>,
    T: Send + 'static,
{
    fn core(&self) -> &Core {
        &self.core
    }
}

impl<R, T> Task for JobCell<R, T>
where
    R: Run<T>,
    T: Send + 'static,
{
    fn run<'a>(self: Arc<Self>, by: RunBy<'a>, w: &'a mut dyn Runner) -> BoxRun<'a> {
        Box::pin(crate::run::run(self, by, w))
    }

    fn abandon(&self, pool: &Inner, err: JobError) {
        self.finish(pool, Err(err), None, None);
    }
}

impl<R, T> ResultSlot<T> for JobCell<R, T>
where
    R: Run<T>,
    T: Send + 'static,
{
    fn is_ready(&self) -> bool {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(*slot, Slot::Waiting(_))
    }

    fn take_owned(&mut self) -> Option<Result<T, JobError>> {
        self.slot.get_mut().unwrap_or_else(PoisonError::into_inner).take_ready()
    }

    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(result) = slot.take_ready() {
            return Poll::Ready(result);
        }
        match &mut *slot {
            Slot::Waiting(Some(w)) if w.will_wake(cx.waker()) => {}
            Slot::Waiting(w) => *w = Some(cx.waker().clone()),
            // (`Ready` was just taken.)
            Slot::Ready(_) | Slot::Taken => panic!("`JobHandle` polled after it returned its result"),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use crate::{Job, Pool};

    /// The pool bench's no-op job (a closure over a `u64`, returning it) keeps its cell within
    /// 104 bytes: with the `Arc`'s two counts a 120-byte request, glibc's 128-byte chunk, the
    /// largest its fast bins keep. A freed fast-bin chunk goes on a list as it is, and the
    /// next `malloc` of its size takes it back (a compare-and-swap, no arena lock); a larger
    /// one is merged with its free neighbours and sorted into bins, and taken back from them.
    /// A batch keeps a million cells alive at once, so the thread cache (7 chunks a size) does
    /// not hold them: at 136 bytes (a 160-byte chunk) the cell's `malloc` and `free` were ~400
    /// of a no-op job's ~1,800 instructions (callgrind), and letting glibc keep 160-byte
    /// chunks in fast bins (`GLIBC_TUNABLES=glibc.malloc.mxfast=160`) measured −12% ns/job on
    /// the batch workload and −17% on the submitters one. A field that grows the cell
    /// belongs in the boxed `Options` or `Timings`, or behind the lazily made signal.
    #[tokio::test(flavor = "current_thread")]
    async fn the_bench_cell_fits_its_size_class() {
        const LIMIT: usize = 104;
        let pool = Pool::builder().workers(1).build();
        let i = 7u64;
        let cell = pool.prepare(Job::new(move |_ctx| async move { Ok::<_, Infallible>(i) }));
        let size = std::mem::size_of_val(&*cell);
        assert!(
            size <= LIMIT,
            "a no-op job's cell takes {size} bytes, more than {LIMIT}: it now takes a bigger \
             allocator size class, and a batch of a million jobs grows the heap by that much more"
        );
        assert!(
            std::mem::size_of::<super::Slot<u64>>() <= 24,
            "a `u64` result's slot shares its bytes between the waker and the value"
        );
    }

    /// A job with any option set (a concurrency key, a name, a timeout…) has its options
    /// boxed beside its cell: 120 bytes at most, so that the box too takes a 128-byte chunk
    /// from glibc's fast bins. The report times were inline once and took it to 144 bytes
    /// (a 160-byte chunk) for every such job: the bench's 16-key row measured 345 → 290
    /// ns/job once they were boxed apart (they are made only while someone wants reports).
    #[test]
    fn a_jobs_options_fit_a_fast_bin() {
        let size = std::mem::size_of::<crate::core::Options>();
        assert!(size <= 120, "a job's boxed options take {size} bytes, more than 120");
    }

    /// An attempt future holds its body's future once: a worker's run boxes it, and a body kept
    /// twice (once as given, once pinned) made a no-op job's box cross the allocator's
    /// small-object limit (1 KiB) and cost a copy of the twice-sized future.
    #[tokio::test(flavor = "current_thread")]
    async fn an_attempt_holds_its_body_once() {
        const BODY: usize = 2048;
        let pool = Pool::builder().workers(1).build();
        let cell = pool.prepare(Job::new(|_ctx| async {
            let scratch = [0u8; BODY];
            tokio::task::yield_now().await;
            Ok::<_, std::io::Error>(std::hint::black_box(scratch)[0])
        }));
        let deferred = crate::metrics::Deferred::default();
        let by = super::RunBy { pool: pool.inner(), now: None, worker: 0, deferred: &deferred };
        let attempt = cell.clone().attempt(by);
        let size = std::mem::size_of_val(&attempt);
        assert!(size >= BODY, "the body is inside: {size}");
        assert!(size < BODY + 512, "an attempt of a {BODY}-byte body takes {size} bytes");
    }
}
