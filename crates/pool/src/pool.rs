//! [`Pool`]: submit jobs, wait for idle, shut down. The engine (`Inner`) is private.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use conveyor_queue::Queue;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle as TokioJoinHandle;
use tokio::time::Instant;

use crate::builder::{FinishHook, PoolBuilder};
use crate::cell::{JobCell, Task};
use crate::core::{Core, FINISHED, JobId, QUEUED, SCHEDULED};
use crate::error::{JobError, Outcome, SubmitError};
use crate::event::{Event, Events, Finished, JobInfo};
use crate::handle::JobHandle;
use crate::job::{Job, Run};
use crate::limit::{Acquire, Limits};
use crate::metrics::{KindMetrics, Metrics};
use crate::shutdown::ShutdownReport;

type Item = Arc<dyn Task>;

/// Counters behind [`ShutdownReport`].
#[derive(Default)]
struct Tally {
    finished: AtomicU64,
    cancelled: AtomicU64,
    never_started: AtomicU64,
}

impl Tally {
    fn snapshot(&self) -> ShutdownReport {
        ShutdownReport {
            finished: self.finished.load(SeqCst),
            cancelled: self.cancelled.load(SeqCst),
            never_started: self.never_started.load(SeqCst),
        }
    }
}

/// The pool's engine, shared by the workers, the handles and every `Pool` clone.
pub(crate) struct Inner {
    queue: Queue<Item>,
    pub(crate) rt: tokio::runtime::Handle,
    next_id: AtomicU64,
    /// Jobs submitted and not yet resolved (queued, running, or waiting to retry).
    unresolved: AtomicUsize,
    idle: Notify,
    accepting: AtomicBool,
    intake_closed: Notify,
    cancelling: AtomicBool,
    /// Wakes every attempt's `cancelled()` and every retry timer when the pool cancels all.
    pub(crate) signal: Notify,
    pub(crate) grace: Duration,
    default_timeout: Option<Duration>,
    default_retry: Option<Arc<crate::RetryPolicy>>,
    default_kind: Arc<str>,
    epoch: Instant,
    epoch_wall: SystemTime,
    /// Whether timings are always read (metrics, or the finish hook); an event subscriber
    /// turns them on while it listens.
    timing: bool,
    /// The event stream and how many subscribers it has: events are made only while one
    /// listens, so that an unwatched stream costs one relaxed load per event.
    events: Option<(broadcast::Sender<Event>, Arc<AtomicUsize>)>,
    on_finish: Option<FinishHook>,
    metrics: Option<Metrics>,
    tally: Tally,
    limits: Limits,
    /// The whole pool paused: workers take no job until resumed.
    paused: AtomicBool,
    resumed: Notify,
    /// Wakes workers waiting for a job when the pool is paused, so that they take none.
    workers: usize,
    /// Permits for blocking attempts: at most this many run on blocking threads at once.
    blocking: Arc<tokio::sync::Semaphore>,
    live_workers: AtomicUsize,
    worker_tasks: Mutex<Vec<TokioJoinHandle<()>>>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Inner {
    /// Stops accepting jobs, and tells periodic schedules to stop.
    pub(crate) fn stop_intake(&self) {
        self.accepting.store(false, SeqCst);
        self.intake_closed.notify_waiters();
    }

    /// Resolves once the pool stops accepting jobs.
    pub(crate) async fn intake_stopped(&self) {
        loop {
            let closed = self.intake_closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if !self.accepting.load(SeqCst) {
                return;
            }
            closed.await;
        }
    }

    pub(crate) fn is_cancelling(&self) -> bool {
        self.cancelling.load(SeqCst)
    }

    /// Counts out of the queue depth a job a worker took but refused to start (cancelled
    /// meanwhile); a started job is counted out by [`started`](Self::started).
    pub(crate) fn dequeued_unstarted(&self) {
        if let Some(m) = &self.metrics {
            m.depth.decrement(1.0);
        }
    }

    /// Now, in nanoseconds since the pool's epoch — or 0 when nobody reads timings (no
    /// metrics, events or hook): a clock read costs ~20 ns, a fifth of a no-op job.
    fn now_ns(&self) -> u64 {
        if self.timing() { nanos(self.epoch.elapsed()) } else { 0 }
    }

    fn timing(&self) -> bool {
        self.timing || self.listened().is_some()
    }

    /// The event sender, while someone subscribes.
    fn listened(&self) -> Option<&broadcast::Sender<Event>> {
        let (tx, subscribers) = self.events.as_ref()?;
        (subscribers.load(Relaxed) > 0).then_some(tx)
    }

    fn wall(&self, ns: u64) -> SystemTime {
        self.epoch_wall + Duration::from_nanos(ns)
    }

    fn wants_reports(&self) -> bool {
        self.on_finish.is_some() || self.listened().is_some()
    }

    fn info(&self, core: &Core) -> JobInfo {
        JobInfo {
            id: core.id,
            name: core.name.clone(),
            kind: self.kind(core).clone(),
            priority: core.priority,
            tag: core.tag.clone(),
        }
    }

    pub(crate) fn kind<'a>(&'a self, core: &'a Core) -> &'a Arc<str> {
        core.kind.as_ref().unwrap_or(&self.default_kind)
    }

    /// The metric handles of `core`'s kind, if metrics are on.
    fn kind_metrics<'a>(&'a self, core: &'a Core) -> Option<&'a KindMetrics> {
        let m = self.metrics.as_ref()?;
        Some(core.metrics.as_deref().unwrap_or(&m.default_kind))
    }

    fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(tx) = self.listened() {
            // A subscriber that left meanwhile is not an error: events are best-effort.
            let _ = tx.send(make());
        }
    }

    /// Records the start of an attempt; returns its start time: `now` if given (a reading
    /// the worker took without waiting since, see [`Task::run`](crate::cell::Task::run)),
    /// but never before the job became ready, which another thread may have made it since.
    pub(crate) fn started(&self, core: &Core, attempt: u32, now: Option<u64>) -> u64 {
        let ready = core.ready_ns.load(Relaxed);
        let now = match now {
            Some(t) => t.max(ready),
            None => self.now_ns(),
        };
        let wait = Duration::from_nanos(now.saturating_sub(ready));
        if attempt == 1 {
            core.first_start_ns.store(now, Relaxed);
        }
        if let Some(m) = &self.metrics {
            m.depth.decrement(1.0);
            m.running.increment(1.0);
            if let Some(k) = self.kind_metrics(core) {
                k.wait.record(wait.as_secs_f64());
            }
        }
        self.emit(|| Event::Started { job: self.info(core), attempt, wait });
        now
    }

    /// Records the end of an attempt that started at `started`; returns the time it ended
    /// (`None` when nobody reads timings), which the job's report reuses if this was its last.
    pub(crate) fn stopped(&self, core: &Core, started: u64) -> Option<u64> {
        if !self.timing() {
            return None;
        }
        let now = self.now_ns();
        let run = now.saturating_sub(started);
        // Attempts run one after another: no other writer, so no read-modify-write.
        core.run_ns.store(core.run_ns.load(Relaxed) + run, Relaxed);
        if let Some(m) = &self.metrics {
            m.running.decrement(1.0);
            if let Some(k) = self.kind_metrics(core) {
                k.run.record(Duration::from_nanos(run).as_secs_f64());
            }
        }
        Some(now)
    }

    pub(crate) fn retry_scheduled(&self, core: &Core, attempt: u32, delay: Duration, err: &JobError) {
        if let Some(k) = self.kind_metrics(core) {
            k.retries.increment(1);
        }
        self.emit(|| Event::RetryScheduled {
            job: self.info(core),
            attempt,
            delay,
            error: error_text(err, core),
        });
    }

    /// Counts, measures and reports a job's resolution; called once per job. `ended` is the
    /// time its last attempt stopped, when it resolves right then (one clock read fewer).
    pub(crate) fn record_finish(&self, core: &Core, err: Option<&JobError>, ended: Option<u64>) {
        let outcome = err.map_or(Outcome::Succeeded, JobError::outcome);
        let attempts = core.attempts.load(Relaxed);
        let tally = match outcome {
            Outcome::Cancelled if attempts == 0 => &self.tally.never_started,
            Outcome::Cancelled => &self.tally.cancelled,
            _ => &self.tally.finished,
        };
        // Only shutdown reports read the tally, and they count from the moment intake stops:
        // skipping it before saves a contended atomic per job.
        if !self.accepting.load(Relaxed) {
            tally.fetch_add(1, SeqCst);
        }
        if let Some(k) = self.kind_metrics(core) {
            k.finished[outcome.index()].increment(1);
        }
        if !self.wants_reports() {
            return;
        }
        let now = ended.unwrap_or_else(|| self.now_ns());
        let first = core.first_start_ns.load(Relaxed);
        let started = (first != u64::MAX).then_some(first);
        // On the stack: only the event stream, when there is one, needs it shared.
        let report = Finished {
            job: self.info(core),
            outcome,
            attempts,
            queued_at: self.wall(core.queued_ns),
            started_at: started.map(|s| self.wall(s)),
            finished_at: self.wall(now),
            wait: Duration::from_nanos(started.unwrap_or(now).saturating_sub(core.queued_ns)),
            run: Duration::from_nanos(core.run_ns.load(Relaxed)),
            error: err.map(|e| error_text(e, core)),
        };
        if let Some(hook) = &self.on_finish {
            hook(&report);
        }
        self.emit(|| Event::Finished(Arc::new(report)));
    }

    /// One job fewer unresolved; wakes `join` at zero.
    pub(crate) fn resolved(&self) {
        if self.unresolved.fetch_sub(1, SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Puts a job whose retry delay is over back in the queue.
    async fn requeue(self: &Arc<Self>, task: Item) {
        let core = task.core();
        core.ready_ns.store(self.now_ns(), Relaxed);
        core.set_state(QUEUED);
        if let Some(m) = &self.metrics {
            m.depth.increment(1.0);
        }
        match self.queue.push(task.clone(), core.priority).await {
            Ok(key) => self.after_push(task.core(), key),
            Err(_closed) => {
                if let Some(m) = &self.metrics {
                    m.depth.decrement(1.0);
                }
                task.abandon(self, JobError::Cancelled);
            }
        }
    }

    /// Stores the queue key, and honours a cancel that raced with the push.
    fn after_push(&self, core: &Core, key: conveyor_queue::Key) {
        core.set_key(key);
        if core.cancel_requested() {
            self.remove_queued(core);
        }
    }

    fn remove_queued(&self, core: &Core) {
        if let Some(task) = core.take_key().and_then(|key| self.queue.remove(key)) {
            if let Some(m) = &self.metrics {
                m.depth.decrement(1.0);
            }
            task.abandon(self, JobError::Cancelled);
        }
    }

    /// Queues `task` after `delay` (a retry, or a delayed job), holding no worker meanwhile.
    pub(crate) fn schedule(self: &Arc<Self>, task: Item, delay: Duration) {
        let pool = self.clone();
        self.rt.spawn(async move {
            let cancelled = tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                _ = task.core().stopped(&pool, 0) => true,
            };
            if cancelled {
                task.abandon(&pool, task.core().stop_error(&pool));
            } else {
                pool.requeue(task).await;
            }
        });
    }

    pub(crate) fn cancel(self: &Arc<Self>, core: &Core) -> bool {
        if core.state() == FINISHED || !core.request_cancel() {
            return false;
        }
        if core.state() == QUEUED {
            self.remove_queued(core);
            if let Some(task) = self.limits.unpark(core) {
                task.abandon(self, JobError::Cancelled);
            }
            if (core.key.is_some() || core.rate_key.is_some())
                && let (Some(key), ready, timer) = self.limits.unrelease(core)
            {
                self.start_released(&key, ready, timer);
            }
        }
        true
    }

    /// Puts a job back in the queue now (released by a limit, or popped while paused),
    /// waiting for room in a task of its own if the queue is full.
    pub(crate) fn requeue_now(self: &Arc<Self>, task: Item) {
        let priority = task.core().priority;
        match self.queue.try_push(task.clone(), priority) {
            Ok(key) => self.after_push(task.core(), key),
            Err(e) if e.is_full() => {
                let pool = self.clone();
                let task = e.into_inner();
                self.rt.spawn(async move {
                    match pool.queue.push(task.clone(), priority).await {
                        Ok(key) => pool.after_push(task.core(), key),
                        Err(closed) => {
                            let task = closed.into_inner();
                            task.abandon(&pool, task.core().stop_error(&pool));
                        }
                    }
                });
            }
            Err(closed) => {
                let task = closed.into_inner();
                task.abandon(self, task.core().stop_error(self));
            }
        }
    }

    /// Queues the jobs a limit released, and arms the key's rate timer if asked.
    fn start_released(self: &Arc<Self>, key: &Arc<str>, ready: Vec<Item>, timer: Option<Duration>) {
        for task in ready {
            self.requeue_now(task);
        }
        if let Some(delay) = timer {
            let pool = self.clone();
            let key = key.clone();
            self.rt.spawn(async move {
                tokio::time::sleep(delay).await;
                let (ready, timer) = pool.limits.on_timer(&key);
                pool.start_released(&key, ready, timer);
            });
        }
    }

    /// Changes `key`'s settings and starts what may start now.
    fn configure(self: &Arc<Self>, key: &Arc<str>, change: impl FnOnce(&mut crate::limit::Settings<'_>)) {
        let (ready, timer) = self.limits.configure(key, change);
        self.start_released(key, ready, timer);
    }

    /// Waits until the pool is resumed; `false` if it closed meanwhile.
    async fn wait_resumed(&self) -> bool {
        loop {
            let resumed = self.resumed.notified();
            tokio::pin!(resumed);
            resumed.as_mut().enable();
            if self.queue.is_closed() && self.queue.is_empty() {
                return false;
            }
            if !self.paused.load(SeqCst) {
                return true;
            }
            resumed.await;
        }
    }

    /// Cancels all work: queued jobs never start, running ones are told to stop.
    fn cancel_all(&self) {
        self.cancelling.store(true, SeqCst);
        self.signal.notify_waiters();
        self.paused.store(false, SeqCst);
        self.resumed.notify_waiters();
        let parked = self.limits.drain();
        for task in self.queue.drain().into_iter().chain(parked) {
            if let Some(m) = &self.metrics {
                m.depth.decrement(1.0);
            }
            let err = if task.core().attempts.load(Relaxed) == 0 {
                JobError::Shutdown
            } else {
                JobError::Cancelled
            };
            task.abandon(self, err);
        }
    }

    async fn join(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.unresolved.load(SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Stops the workers once everything is resolved, and says so on the event stream.
    async fn finish_shutdown(&self, before: ShutdownReport) -> ShutdownReport {
        self.join().await;
        self.queue.close();
        let workers = std::mem::take(&mut *self.worker_tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for w in workers {
            // A worker never panics (jobs' panics are caught); a JoinError here means the
            // runtime is shutting down, and there is nothing left to wait for.
            let _ = w.await;
        }
        if let Some(m) = &self.metrics {
            m.workers.decrement(self.workers as f64);
        }
        let after = self.tally.snapshot();
        let report = ShutdownReport {
            finished: after.finished - before.finished,
            cancelled: after.cancelled - before.cancelled,
            never_started: after.never_started - before.never_started,
        };
        self.emit(|| Event::Shutdown(report));
        report
    }
}

fn error_text(err: &JobError, core: &Core) -> String {
    match err {
        JobError::Failed(e) => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
        JobError::TimedOut => match core.timeout {
            Some(t) => format!("timed out after {t:?}"),
            None => "timed out".to_owned(),
        },
        other => other.to_string(),
    }
}

/// Worker number `index` (0-based): [`JobContext::worker`](crate::JobContext::worker).
async fn worker(pool: Arc<Inner>, index: u32) {
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
    // When the last attempt stopped, while this worker has not waited since: the next
    // attempt's start, one clock read fewer a job when jobs follow each other. (The start is
    // then early by the bookkeeping in between — the result's delivery, the `on_finish`
    // hook, the pop — well under a microsecond for a short hook.)
    let mut stopped_at = None;
    loop {
        if pool.paused.load(SeqCst) {
            stopped_at = None;
            if !pool.wait_resumed().await {
                return;
            }
        }
        let task = match pool.queue.try_pop() {
            Ok(task) => task,
            Err(_) => {
                stopped_at = None;
                // Before sleeping, let the other tasks on this thread (often the submitter)
                // run once: a job pushed meanwhile is taken without a sleep and a wake-up.
                tokio::task::yield_now().await;
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
            match task.core().queued_key() {
                Some(key) => pool.queue.unpop(task, key),
                None => pool.requeue_now(task),
            }
            continue;
        }
        let core = task.core();
        if core.key.is_none() && core.rate_key.is_none() {
            stopped_at = task.run(pool, stopped_at.take(), index).await;
            continue;
        }
        // Borrow the keys through a second reference to the job (its own reference count,
        // which only this thread touches now) rather than cloning the keys' shared `Arc`s.
        let held = task.clone();
        let mut task = task;
        if let Some(rate_key) = held.core().rate_key.as_ref() {
            // First a token of the rate key (unless a slot is what the job waits for).
            if !held.core().rate_taken.load(Relaxed) {
                match pool.limits.acquire(rate_key, task) {
                    Acquire::Token(t, ready, timer) => {
                        pool.start_released(rate_key, ready, timer);
                        task = t;
                    }
                    Acquire::Run(t) => task = t,
                    Acquire::Parked(timer) => {
                        stopped_at = None;
                        pool.start_released(rate_key, Vec::new(), timer);
                        continue;
                    }
                }
            }
        }
        let Some(key) = held.core().key.as_ref() else {
            // A rate key alone: the token was all it waited for.
            held.core().rate_taken.store(false, Relaxed);
            stopped_at = task.run(pool, stopped_at.take(), index).await;
            continue;
        };
        match pool.limits.acquire(key, task) {
            Acquire::Run(task) => {
                stopped_at = task.run(pool, stopped_at.take(), index).await;
                let (ready, timer) = pool.limits.release(key);
                pool.start_released(key, ready, timer);
            }
            Acquire::Token(task, ready, timer) => {
                // Not a token key's stage (the mode says a slot): queue it again to retry.
                pool.start_released(key, ready, timer);
                pool.requeue_now(task);
            }
            Acquire::Parked(timer) => {
                stopped_at = None;
                pool.start_released(key, Vec::new(), timer);
            }
        }
    }
}

/// Closes the queue when the last [`Pool`] clone is dropped, so the workers drain it and
/// stop (handles do not keep a pool alive).
struct Owner {
    inner: Arc<Inner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let inner = &self.inner;
        inner.stop_intake();
        // A paused pool would never drain: resume it so queued jobs still run.
        inner.paused.store(false, SeqCst);
        inner.resumed.notify_waiters();
        inner.queue.close();
    }
}

/// A [`Pool`] reference that does not keep it open; from [`Pool::downgrade`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = conveyor_pool::Pool::builder().build();
/// let weak = pool.downgrade();
/// if let Some(pool) = weak.upgrade() {
///     assert!(pool.is_accepting());
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct WeakPool {
    owner: std::sync::Weak<Owner>,
}

impl WeakPool {
    /// The pool, if some `Pool` clone still exists.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// assert!(pool.downgrade().upgrade().is_some());
    /// # }
    /// ```
    pub fn upgrade(&self) -> Option<Pool> {
        self.owner.upgrade().map(|owner| Pool { owner })
    }
}

/// A pool of workers running [`Job`]s from a priority queue on the current tokio runtime.
///
/// `Pool` is a cheap handle: clone it freely. When the last clone is dropped the pool stops
/// accepting jobs, its workers finish what is queued and stop; for a bounded stop, call
/// [`shutdown`](Self::shutdown) or [`shutdown_now`](Self::shutdown_now).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(3).build();
/// let mut handles = Vec::new();
/// for n in [5u64, 1, 3] {
///     let job = Job::new(move |_ctx| async move { Ok::<_, std::io::Error>(n * n) }).priority(n as i32);
///     handles.push(pool.submit(job).await.unwrap());
/// }
/// let mut squares = Vec::new();
/// for h in handles {
///     squares.push(h.await.unwrap());
/// }
/// assert_eq!(squares, [25, 1, 9]); // results in submit order
/// # }
/// ```
#[derive(Clone)]
pub struct Pool {
    owner: Arc<Owner>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.owner.inner;
        f.debug_struct("Pool")
            .field("workers", &inner.workers)
            .field("queued", &inner.queue.len())
            .field("unresolved", &inner.unresolved.load(Relaxed))
            .finish()
    }
}

impl Pool {
    /// A builder with the default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().workers(2).build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    #[track_caller]
    pub(crate) fn from_builder(b: PoolBuilder) -> Pool {
        let rt = tokio::runtime::Handle::current();
        let metrics = b
            .metrics
            .unwrap_or_else(crate::metrics::recorder_installed)
            .then(|| Metrics::new(&b.default_kind, &b.metric_kinds));
        let timing = metrics.is_some() || b.on_finish.is_some();
        let inner = Arc::new(Inner {
            queue: Queue::bounded(b.capacity),
            rt: rt.clone(),
            next_id: AtomicU64::new(0),
            unresolved: AtomicUsize::new(0),
            idle: Notify::new(),
            accepting: AtomicBool::new(true),
            intake_closed: Notify::new(),
            cancelling: AtomicBool::new(false),
            signal: Notify::new(),
            grace: b.grace,
            default_timeout: b.default_timeout,
            default_retry: b.default_retry,
            default_kind: b.default_kind,
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            timing,
            events: (b.event_buffer > 0).then(|| (broadcast::channel(b.event_buffer).0, Arc::default())),
            on_finish: b.on_finish,
            metrics,
            tally: Tally::default(),
            limits: Limits::default(),
            paused: AtomicBool::new(false),
            resumed: Notify::new(),
            workers: b.workers,
            blocking: Arc::new(tokio::sync::Semaphore::new(b.blocking_workers)),
            live_workers: AtomicUsize::new(b.workers),
            worker_tasks: Mutex::new(Vec::with_capacity(b.workers)),
        });
        if let Some(m) = &inner.metrics {
            m.workers.increment(b.workers as f64);
        }
        for (key, limit) in b.concurrency_limits {
            inner.configure(&key, |s| s.concurrency(Some(limit)));
        }
        for (key, count, per) in b.rate_limits {
            inner.configure(&key, |s| s.rate(Some((count, per))));
        }
        // A `u32` index keeps `JobContext` at its size; no pool has 4 billion workers.
        let tasks = (0..b.workers).map(|i| rt.spawn(worker(inner.clone(), i as u32))).collect();
        *inner.worker_tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        Pool { owner: Arc::new(Owner { inner }) }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.owner.inner
    }

    /// A reference that does not keep the pool open (dropping every `Pool` clone still stops
    /// it), for long-lived helpers such as schedules.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// let weak = pool.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(pool);
    /// assert!(weak.upgrade().is_none());
    /// # }
    /// ```
    pub fn downgrade(&self) -> WeakPool {
        WeakPool { owner: Arc::downgrade(&self.owner) }
    }

    /// Makes the job's shared cell; nothing is counted until it is queued.
    pub(crate) fn prepare<R, T>(&self, job: Job<R>) -> Arc<JobCell<R, T>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let o = job.options;
        let mut run = job.run;
        run.bind(&inner.blocking);
        let kind = o.kind.filter(|k| **k != *inner.default_kind);
        let metrics = inner.metrics.as_ref().zip(kind.as_ref()).map(|(m, k)| m.kind(k));
        let core = Core::new(
            inner.clone(),
            JobId(inner.next_id.fetch_add(1, Relaxed)),
            o.name,
            kind,
            o.priority,
            o.timeout.or(inner.default_timeout),
            // A run-once body cannot run again: its first attempt is final.
            o.retry.or_else(|| inner.default_retry.clone()).filter(|_| run.retries()),
            o.shield,
            o.key,
            o.rate_key,
            o.tag,
            metrics,
            inner.now_ns(),
        );
        Arc::new(JobCell::new(core, run))
    }

    /// Submits a job with a start delay: it waits in a timer, not in the queue, so it takes
    /// neither a queue slot nor a worker until it is due.
    fn submit_scheduled<R, T>(&self, job: Job<R>, delay: Duration) -> JobHandle<T>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let cell = self.prepare(job);
        let core = crate::context::HasCore::core(&*cell);
        core.set_state(SCHEDULED);
        inner.unresolved.fetch_add(1, SeqCst);
        if let Some(k) = inner.kind_metrics(core) {
            k.submitted.increment(1);
        }
        inner.emit(|| Event::Queued(inner.info(core)));
        inner.schedule(cell.clone() as Item, delay);
        JobHandle::new(cell)
    }

    /// Queues a prepared job through a reserved slot (which cannot fail).
    fn commit<R, T>(&self, permit: conveyor_queue::Permit<'_, Item>, cell: Arc<JobCell<R, T>>) -> JobHandle<T>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        let core = crate::context::HasCore::core(&*cell);
        inner.unresolved.fetch_add(1, SeqCst);
        if let Some(k) = inner.kind_metrics(core) {
            k.submitted.increment(1);
        }
        if let Some(m) = &inner.metrics {
            m.depth.increment(1.0);
        }
        inner.emit(|| Event::Queued(inner.info(core)));
        let key = permit.push(cell.clone() as Item, core.priority);
        inner.after_push(core, key);
        JobHandle::new(cell)
    }

    /// One queue operation per job: `try_push` straight away, taking the job back out of
    /// its cell if the queue is full. Only without events: with events, the `Queued` event
    /// must be sent before a worker can send `Started`, which needs a reserved slot first.
    fn submit_fast<R, T>(&self, job: Job<R>) -> Result<JobHandle<T>, SubmitError<Job<R>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        if inner.listened().is_some() {
            return Err(SubmitError::full(job));
        }
        let cell = self.prepare(job);
        let core = crate::context::HasCore::core(&*cell);
        // Counted before the push: a worker may resolve the job before `try_push` returns.
        inner.unresolved.fetch_add(1, SeqCst);
        match inner.queue.try_push(cell.clone() as Item, core.priority) {
            Ok(key) => {
                if let Some(k) = inner.kind_metrics(core) {
                    k.submitted.increment(1);
                }
                if let Some(m) = &inner.metrics {
                    m.depth.increment(1.0);
                }
                inner.after_push(core, key);
                Ok(JobHandle::new(cell))
            }
            Err(refused) => {
                let closed = refused.is_closed();
                drop(refused);
                inner.resolved();
                let job = match Arc::try_unwrap(cell) {
                    Ok(cell) => cell.into_job(),
                    // Unreachable: the queue handed its clone back, and no one else has one.
                    Err(_) => unreachable!("a refused job's cell has no other owner"),
                };
                Err(if closed { SubmitError::shutdown(job) } else { SubmitError::full(job) })
            }
        }
    }

    /// Submits a job, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] (with the job) once the pool is shutting down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the job was not submitted
    /// (it drops with the future) and nothing else changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let handle = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>("done") })).await.unwrap();
    /// assert_eq!(handle.await.unwrap(), "done");
    /// # }
    /// ```
    pub async fn submit<R, T>(&self, job: Job<R>) -> Result<JobHandle<T>, SubmitError<Job<R>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        // The fast path is `try_submit`; only a full queue makes us wait, for a reserved slot
        // (cancel safe: a dropped wait holds nothing, and the job drops with the future).
        let job = match self.try_submit(job) {
            Err(refused) if refused.is_full() => refused.into_inner(),
            done => return done,
        };
        let inner = self.inner();
        let permit = match inner.queue.reserve().await {
            Ok(permit) => permit,
            Err(_closed) => return Err(SubmitError::shutdown(job)),
        };
        if !inner.accepting.load(SeqCst) {
            return Err(SubmitError::shutdown(job));
        }
        Ok(self.commit(permit, self.prepare(job)))
    }

    /// Submits a job if the queue has room now.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] (with the job) if the queue is full or the pool is shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().capacity(1).build();
    /// let job = || Job::new(|_| async { Ok::<_, std::io::Error>(()) });
    /// let first = pool.try_submit(job()).unwrap();
    /// let refused = pool.try_submit(job()).unwrap_err();
    /// assert!(refused.is_full());
    /// first.await.unwrap();
    /// # }
    /// ```
    pub fn try_submit<R, T>(&self, job: Job<R>) -> Result<JobHandle<T>, SubmitError<Job<R>>>
    where
        R: Run<T>,
        T: Send + 'static,
    {
        let inner = self.inner();
        if !inner.accepting.load(SeqCst) {
            return Err(SubmitError::shutdown(job));
        }
        if let Some(delay) = job.start_delay() {
            return Ok(self.submit_scheduled(job, delay));
        }
        if inner.listened().is_none() {
            return self.submit_fast(job);
        }
        match inner.queue.try_reserve() {
            Ok(permit) => Ok(self.commit(permit, self.prepare(job))),
            Err(e) if e.is_full() => Err(SubmitError::full(job)),
            Err(_closed) => Err(SubmitError::shutdown(job)),
        }
    }

    /// Waits until nothing is queued, running or waiting to retry (asyncio's `queue.join()`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// for _ in 0..10 {
    ///     let _detached = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// }
    /// pool.join().await;
    /// assert_eq!(pool.unresolved(), 0);
    /// # }
    /// ```
    pub async fn join(&self) {
        self.inner().join().await
    }

    /// Stops accepting jobs, lets queued and running jobs finish until `deadline` has passed,
    /// then cancels the rest (queued ones end as [`JobError::Shutdown`], running ones are
    /// cancelled with the grace period), and stops the workers. Every job is resolved when it
    /// returns.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe in the sense of being resumable: dropping it midway leaves the pool
    /// refusing new jobs, with its work still finishing in the background.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobError, Pool};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).grace(Duration::ZERO).build();
    /// let slow = pool
    ///     .submit(Job::new(|_| async {
    ///         tokio::time::sleep(Duration::from_secs(3600)).await;
    ///         Ok::<_, std::io::Error>(())
    ///     }))
    ///     .await
    ///     .unwrap();
    /// let report = pool.shutdown(Duration::from_secs(1)).await;
    /// assert_eq!(report.cancelled, 1);
    /// assert!(matches!(slow.await, Err(JobError::Cancelled)));
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = self.inner();
        let before = inner.tally.snapshot();
        inner.stop_intake();
        if tokio::time::timeout(deadline, inner.join()).await.is_err() {
            inner.cancel_all();
        }
        inner.finish_shutdown(before).await
    }

    /// Stops accepting jobs and cancels everything at once: queued jobs end as
    /// [`JobError::Shutdown`], running ones are cancelled (with the grace period to clean
    /// up; shielded ones run on). Returns when every job is resolved.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// let report = pool.shutdown_now().await;
    /// assert_eq!(report.never_started, 1);
    /// assert!(h.await.unwrap_err().is_cancelled());
    /// # }
    /// ```
    pub async fn shutdown_now(&self) -> ShutdownReport {
        let inner = self.inner();
        let before = inner.tally.snapshot();
        inner.stop_intake();
        inner.cancel_all();
        inner.finish_shutdown(before).await
    }

    /// A stream of lifecycle events from now on. See [`Events`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Event, Job, Pool};
    /// use futures_util::StreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let mut events = pool.events();
    /// pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// assert!(matches!(events.next().await, Some(Ok(Event::Queued(_)))));
    /// # }
    /// ```
    pub fn events(&self) -> Events {
        Events::new(
            self.inner().events.as_ref().map(|(tx, subscribers)| (tx.subscribe(), subscribers.clone())),
        )
    }

    /// The number of workers.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(conveyor_pool::Pool::builder().workers(4).build().workers(), 4);
    /// # }
    /// ```
    pub fn workers(&self) -> usize {
        self.inner().workers
    }

    /// Jobs waiting in the queue now.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(conveyor_pool::Pool::builder().build().queued(), 0);
    /// # }
    /// ```
    pub fn queued(&self) -> usize {
        self.inner().queue.len()
    }

    /// Jobs submitted and not yet resolved (queued, running or waiting to retry).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert_eq!(conveyor_pool::Pool::builder().build().unresolved(), 0);
    /// # }
    /// ```
    pub fn unresolved(&self) -> usize {
        self.inner().unresolved.load(SeqCst)
    }

    /// Limits how many jobs of `key` run at once (`None`: no limit), at run time. Jobs waiting
    /// for the key hold no worker; raising the limit starts them at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().concurrency_limit("db", 2).build();
    /// pool.set_concurrency_limit("db", Some(8));
    /// # }
    /// ```
    pub fn set_concurrency_limit(&self, key: impl Into<Arc<str>>, limit: Option<usize>) {
        self.inner().configure(&key.into(), |s| s.concurrency(limit));
    }

    /// Limits how many jobs of `key` start per `per` (`None`: no limit), at run time; see
    /// [`PoolBuilder::rate_limit`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// pool.set_rate_limit("api", Some((10, std::time::Duration::from_secs(1))));
    /// # }
    /// ```
    pub fn set_rate_limit(&self, key: impl Into<Arc<str>>, rate: Option<(u32, Duration)>) {
        self.inner().configure(&key.into(), |s| s.rate(rate));
    }

    /// Pauses the whole pool: queued jobs stay queued and nothing new starts (running jobs go
    /// on). Submitting still works.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobStatus, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// pool.pause();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// tokio::task::yield_now().await;
    /// assert_eq!(h.status(), JobStatus::Queued);
    /// pool.resume();
    /// h.await.unwrap();
    /// # }
    /// ```
    pub fn pause(&self) {
        let inner = self.inner();
        inner.paused.store(true, SeqCst);
    }

    /// Resumes a paused pool.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// pool.pause();
    /// assert!(pool.is_paused());
    /// pool.resume();
    /// assert!(!pool.is_paused());
    /// # }
    /// ```
    pub fn resume(&self) {
        let inner = self.inner();
        inner.paused.store(false, SeqCst);
        inner.resumed.notify_waiters();
    }

    /// Whether the whole pool is paused.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert!(!conveyor_pool::Pool::builder().build().is_paused());
    /// # }
    /// ```
    pub fn is_paused(&self) -> bool {
        self.inner().paused.load(SeqCst)
    }

    /// Pauses one key: its queued jobs wait (holding no worker), other keys run on.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).build();
    /// pool.pause_key("mail");
    /// let mail = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>("sent") }).concurrency_key("mail")).await.unwrap();
    /// let other = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>("done") })).await.unwrap();
    /// assert_eq!(other.await.unwrap(), "done"); // runs although the only worker saw `mail` first
    /// pool.resume_key("mail");
    /// assert_eq!(mail.await.unwrap(), "sent");
    /// # }
    /// ```
    pub fn pause_key(&self, key: impl Into<Arc<str>>) {
        self.inner().configure(&key.into(), |s| s.paused(true));
    }

    /// Resumes a paused key.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// pool.pause_key("mail");
    /// pool.resume_key("mail");
    /// # }
    /// ```
    pub fn resume_key(&self, key: impl Into<Arc<str>>) {
        self.inner().configure(&key.into(), |s| s.paused(false));
    }

    /// Whether the pool still accepts jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// assert!(pool.is_accepting());
    /// pool.shutdown_now().await;
    /// assert!(!pool.is_accepting());
    /// # }
    /// ```
    pub fn is_accepting(&self) -> bool {
        self.inner().accepting.load(SeqCst)
    }
}
