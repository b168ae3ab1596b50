//! The worker loop: pop a job (or a few), take its keys' slot or token, run it.
//!
//! # Batches
//!
//! A worker whose last job completed within its first poll (a job that awaited nothing, or
//! only what was ready) takes up to [`BATCH`] jobs from the queue at once, with one lock,
//! and runs them one after another; a worker whose last job waited takes one. As soon as a
//! job of a batch waits (its first poll is `Pending`), the worker puts the jobs it has not
//! started back in the queue in their places (same key: priority and push order) before it
//! waits, so that other workers run them meanwhile. The quick jobs of one type that follow
//! each other run inside one boxed future, a *run* (`crate::run`), not one box per job. So:
//!
//! - **Order**: jobs still start in priority order, then push order, except that a job pushed
//!   with a better priority after a worker took a batch may start after the batch's
//!   remaining jobs: at most `BATCH - 1` of them, each of which completes in one poll (a job
//!   that waits gives the rest back).
//! - **Cancel**: a job in a batch is out of the queue, so cancelling it cannot remove it;
//!   it is refused when its turn comes (`Core::begin` sees the request), as a job popped
//!   the instant before the cancel is. **Pause** gives the batch back; **shutdown** refuses
//!   its jobs like any popped job.
//!
//! Measured on the pool bench's batch workload (1M no-op jobs, 2-thread runtime): one lock
//! per batch instead of one per job, and far fewer wake-ups of the submitter waiting for room
//! (one per batch), see docs/performance.md.
//!
//! # Idle workers
//!
//! A worker that finds the queue empty sleeps in `pop` at once; the next push wakes it. It
//! used to yield once first (so that the submitter on its thread could push meanwhile, and
//! the job be taken without a sleep and a wake-up), latterly only while fewer workers slept
//! than the runtime had threads. With batches of 16 the yield measured no better and often
//! worse, so it is gone. On the pool bench, each run in its own process, alternated with
//! the build before: `workers(2)` went from 230 to 189 ns/job on the batch workload and from
//! 223 to 181 on the submitters one (medians of 6); once the cell fit glibc's fast bins, the
//! default 256 workers went from 174 to 165 and from 171 to 156 (medians of 12). (A yield
//! costs more than it looks: tokio answers it by waking a parked runtime thread to steal
//! the yielded task.)

use std::sync::Arc;
use std::sync::atomic::Ordering::*;

use super::engine::{Inner, Item};
use crate::cell::RunBy;
use crate::limit::Acquire;
use crate::metrics::Deferred;
use crate::run::Runner;

/// The most jobs a worker takes from the queue at once (see "Batches" above). 16 rather
/// than 8: one lock per 16 quick jobs, −5% to −7% ns/job on the pool bench's default rows
/// (alternated runs, a warm heap); 32 and 64 measured no better.
pub(super) const BATCH: usize = 16;

/// Worker number `index` (0-based): [`JobContext::worker`](crate::JobContext::worker).
pub(super) async fn worker(pool: Arc<Inner>, index: u32) {
    work(&pool, index).await;
    if pool.live_workers.fetch_sub(1, SeqCst) == 1 {
        // The last worker is gone: jobs still parked for their key (say, a paused key) will
        // never be popped again; resolve them rather than leave their handles hanging.
        for task in pool.limits.drain() {
            task.abandon(&pool, task.core().stop_error(&pool));
        }
    }
}

async fn work(pool: &Arc<Inner>, index: u32) {
    let deferred = Deferred::default();
    let mut w = Worker {
        pool,
        index,
        stopped_at: None,
        batch: Vec::new(),
        quick: false,
        deferred: &deferred,
        alone: false,
    };
    // A job a run took and left to this loop (see `crate::run`).
    let mut next = None;
    loop {
        if pool.paused.load(SeqCst) {
            // The job left over was the best of the batch: it goes back last.
            w.batch.extend(next.take());
            pool.flush(&deferred);
            give_back(pool, &mut w.batch);
            w.stopped_at = None;
            if !pool.wait_resumed().await {
                return;
            }
        }
        let task = match next.take().or_else(|| w.at_hand(if w.quick { BATCH } else { 1 })) {
            Some(task) => task,
            None => {
                w.stopped_at = None;
                // Asleep until a push (see "Idle workers"); `None`: closed and drained.
                match pool.queue.pop().await {
                    Some(task) => task,
                    None => return,
                }
            }
        };
        if pool.paused.load(SeqCst) {
            // Paused while this worker waited in `pop`: put the job back in its very place
            // (same priority, same push order) and run nothing. (Waking idle workers on
            // pause instead would cost every idle worker a registration per wait.)
            w.batch.push(task);
            give_back(pool, &mut w.batch);
            continue;
        }
        let core = task.core();
        if !core.is_limited() {
            next = w.run(task).await;
            continue;
        }
        // Borrow the keys through a second reference to the job (its own reference count,
        // which only this thread touches now) rather than cloning the keys' shared `Arc`s.
        let held = task.clone();
        let mut task = task;
        if let Some(rate_key) = held.core().rate_key() {
            // First a token of the rate key (unless a slot is what the job waits for).
            if !held.core().rate_taken.load(Relaxed) {
                match pool.limits.acquire(rate_key, task) {
                    Acquire::Token(t, ready, timer) => {
                        pool.start_released(rate_key, ready, timer);
                        task = t;
                    }
                    Acquire::Run(t) => task = t,
                    Acquire::Parked(timer) => {
                        w.stopped_at = None;
                        pool.start_released(rate_key, Vec::new(), timer);
                        continue;
                    }
                }
            }
        }
        let Some(key) = held.core().key() else {
            // A rate key alone: the token was all it waited for.
            held.core().rate_taken.store(false, Relaxed);
            next = w.run(task).await;
            continue;
        };
        match pool.limits.acquire(key, task) {
            Acquire::Run(task) => {
                next = w.run_alone(task).await;
                let (ready, timer) = pool.limits.release(key);
                pool.start_released(key, ready, timer);
            }
            Acquire::Token(task, ready, timer) => {
                // Not a token key's stage (the mode says a slot): queue it again to retry.
                pool.start_released(key, ready, timer);
                pool.requeue_now(task);
            }
            Acquire::Parked(timer) => {
                w.stopped_at = None;
                pool.start_released(key, Vec::new(), timer);
            }
        }
    }
}

/// What a worker keeps from one job to the next.
struct Worker<'p> {
    pool: &'p Arc<Inner>,
    index: u32,
    /// When the last attempt stopped, while this worker has not waited since: the next
    /// attempt's start, one clock read fewer a job when jobs follow each other. (The start is
    /// then early by the bookkeeping in between — the result's delivery, the `on_finish`
    /// hook, the pop — well under a microsecond for a short hook.)
    stopped_at: Option<u64>,
    /// Jobs taken from the queue and not started yet, the best last (taken with `pop`).
    batch: Vec<Item>,
    /// Whether the last job completed within its first poll: then take a batch next time.
    quick: bool,
    /// Metric updates held back until the next visit to the queue.
    deferred: &'p Deferred,
    /// The run's first job holds a slot of its concurrency key, which the worker releases
    /// after the run: the run must end with that job (see [`run_alone`](Self::run_alone)).
    alone: bool,
}

impl Worker<'_> {
    /// Runs `task` (a run of it and the quick jobs of its type after it, see `crate::run`);
    /// returns a job the run took and left to the worker loop.
    async fn run(&mut self, task: Item) -> Option<Item> {
        let by = RunBy {
            pool: self.pool,
            now: self.stopped_at.take(),
            worker: self.index,
            deferred: self.deferred,
        };
        let ran = task.run(by, self).await;
        self.stopped_at = ran.stopped;
        self.quick = ran.quick;
        ran.next
    }

    /// Runs `task` alone: a run that went on with more jobs would hold the slot of `task`'s
    /// concurrency key, which is released once it returns, for all of them.
    async fn run_alone(&mut self, task: Item) -> Option<Item> {
        self.alone = true;
        let next = self.run(task).await;
        self.alone = false;
        next
    }

    /// The next job of the batch, else up to `most` jobs from the queue without waiting.
    fn at_hand(&mut self, most: usize) -> Option<Item> {
        if let Some(task) = self.batch.pop() {
            return Some(task);
        }
        self.pool.flush(self.deferred);
        self.pool.queue.try_pop_many(&mut self.batch, most).ok()?;
        self.batch.reverse();
        self.batch.pop()
    }
}

impl Runner for Worker<'_> {
    fn next_now(&mut self) -> Option<Item> {
        if self.alone || self.pool.paused.load(SeqCst) {
            return None;
        }
        self.at_hand(BATCH)
    }

    /// An attempt waits: the jobs of the batch go back to the queue for other workers (see
    /// "Batches").
    fn before_wait(&mut self) {
        self.pool.flush(self.deferred);
        give_back(self.pool, &mut self.batch);
    }
}

/// Puts the jobs of a batch back in the queue, each in its place (its key's priority and
/// push order), for other workers to take.
fn give_back(pool: &Arc<Inner>, batch: &mut Vec<Item>) {
    for task in batch.drain(..) {
        match task.core().queued_key() {
            Some(key) => pool.queue.unpop(task, key),
            // Popped before its submitter stored the key (or cancelled since, which took
            // it): queued again, where a cancel finds it.
            None => pool.requeue_now(task),
        }
    }
}
