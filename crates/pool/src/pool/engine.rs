//! The engine: [`Inner`], shared by the workers, the handles and every `Pool` clone, and the
//! bookkeeping of a job's life (start, stop, retry, finish, requeue, cancel, shutdown).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

use super::unresolved::Unresolved;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use conveyor_queue::Queue;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle as TokioJoinHandle;
use tokio::time::Instant;

use crate::builder::FinishHook;
use crate::core::{Core, State};
use crate::error::{JobError, Outcome};
use crate::event::{Event, Finished, JobInfo};
use crate::limit::Limits;
use crate::metrics::{Deferred, KindMetrics, Metrics};
use crate::shutdown::ShutdownReport;

pub(super) use crate::run::Item;

/// Counters behind [`ShutdownReport`].
#[derive(Default)]
pub(super) struct Tally {
    finished: AtomicU64,
    cancelled: AtomicU64,
    never_started: AtomicU64,
}

impl Tally {
    pub(super) fn snapshot(&self) -> ShutdownReport {
        ShutdownReport {
            finished: self.finished.load(SeqCst),
            cancelled: self.cancelled.load(SeqCst),
            never_started: self.never_started.load(SeqCst),
        }
    }
}

/// The pool's engine, shared by the workers, the handles and every `Pool` clone.
pub(crate) struct Inner {
    pub(super) queue: Queue<Item>,
    pub(crate) rt: tokio::runtime::Handle,
    /// Jobs submitted and not yet resolved (queued, running, or waiting to retry), and the
    /// next job id.
    pub(super) unresolved: Unresolved,
    pub(super) idle: Notify,
    pub(super) accepting: AtomicBool,
    pub(super) intake_closed: Notify,
    pub(super) cancelling: AtomicBool,
    /// Wakes every attempt's `cancelled()` and every retry timer when the pool cancels all.
    pub(crate) signal: Notify,
    pub(crate) grace: Duration,
    pub(super) default_timeout: Option<Duration>,
    pub(super) default_retry: Option<Arc<crate::RetryPolicy>>,
    pub(super) default_kind: Arc<str>,
    pub(super) epoch: Instant,
    pub(super) epoch_wall: SystemTime,
    /// Whether timings are always read (metrics, or the finish hook); an event subscriber
    /// turns them on while it listens.
    pub(super) timing: bool,
    /// The event stream and how many subscribers it has: events are made only while one
    /// listens, so that an unwatched stream costs one relaxed load per event.
    pub(super) events: Option<(broadcast::Sender<Event>, Arc<AtomicUsize>)>,
    pub(super) on_finish: Option<FinishHook>,
    pub(super) metrics: Option<Metrics>,
    pub(super) tally: Tally,
    pub(super) limits: Limits,
    /// The whole pool paused: workers take no job until resumed.
    pub(super) paused: AtomicBool,
    pub(super) resumed: Notify,
    /// Wakes workers waiting for a job when the pool is paused, so that they take none.
    pub(super) workers: usize,
    /// Permits for blocking attempts: at most this many run on blocking threads at once.
    pub(super) blocking: Arc<tokio::sync::Semaphore>,
    pub(super) live_workers: AtomicUsize,
    pub(super) worker_tasks: Mutex<Vec<TokioJoinHandle<()>>>,
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
    pub(crate) fn dequeued_unstarted(&self, deferred: &Deferred) {
        if self.metrics.is_some() {
            deferred.dequeued();
        }
    }

    /// Applies the metric updates a worker held back (see [`Deferred`]).
    pub(super) fn flush(&self, deferred: &Deferred) {
        if let Some(m) = &self.metrics {
            deferred.flush(m);
        }
    }

    /// Now, in nanoseconds since the pool's epoch — or 0 when nobody reads timings (no
    /// metrics, events or hook): a clock read costs ~20 ns, a fifth of a no-op job.
    pub(super) fn now_ns(&self) -> u64 {
        self.timed_now().unwrap_or(0)
    }

    /// Now, if someone reads timings (`None` otherwise: see [`now_ns`](Self::now_ns)).
    pub(super) fn timed_now(&self) -> Option<u64> {
        self.timing().then(|| nanos(self.epoch.elapsed()))
    }

    /// A new job's report times, if someone wants reports (see `core::Timings`).
    pub(super) fn report_timings(&self, now_ns: Option<u64>) -> Option<Box<crate::core::Timings>> {
        now_ns.filter(|_| self.wants_reports()).map(|now| Box::new(crate::core::Timings::new(now)))
    }

    fn timing(&self) -> bool {
        self.timing || self.listened().is_some()
    }

    /// The event sender, while someone subscribes.
    pub(super) fn listened(&self) -> Option<&broadcast::Sender<Event>> {
        let (tx, subscribers) = self.events.as_ref()?;
        (subscribers.load(Relaxed) > 0).then_some(tx)
    }

    fn wall(&self, ns: u64) -> SystemTime {
        self.epoch_wall + Duration::from_nanos(ns)
    }

    fn wants_reports(&self) -> bool {
        self.on_finish.is_some() || self.listened().is_some()
    }

    pub(super) fn info(&self, core: &Core) -> JobInfo {
        JobInfo {
            id: core.id(),
            name: core.name().cloned(),
            kind: self.kind(core).clone(),
            priority: core.priority,
            tag: core.tag().cloned(),
        }
    }

    pub(crate) fn kind<'a>(&'a self, core: &'a Core) -> &'a Arc<str> {
        core.kind().unwrap_or(&self.default_kind)
    }

    /// The metric handles of `core`'s kind, if metrics are on.
    pub(super) fn kind_metrics<'a>(&'a self, core: &'a Core) -> Option<&'a KindMetrics> {
        let m = self.metrics.as_ref()?;
        Some(core.metrics().unwrap_or(&m.default_kind))
    }

    pub(super) fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(tx) = self.listened() {
            // A subscriber that left meanwhile is not an error: events are best-effort.
            let _ = tx.send(make());
        }
    }

    /// Records the start of an attempt; returns its start time: `now` if given (a reading
    /// the worker took without waiting since, see [`Task::run`](crate::cell::Task::run)),
    /// but never before the job became ready, which another thread may have made it since.
    ///
    /// The queue depth's decrement is held back in `deferred`; the running gauge is counted
    /// only once the attempt waits ([`running`](Self::running)): an attempt that completes in
    /// its first poll is never seen running by anyone else.
    pub(crate) fn started(&self, core: &Core, attempt: u32, now: Option<u64>, deferred: &Deferred) -> u64 {
        let now = now.unwrap_or_else(|| self.now_ns());
        // A job queued while nobody read timings waited 0 as far as anyone knows.
        let ready = core.ready_ns().unwrap_or(now);
        let now = now.max(ready);
        let wait = Duration::from_nanos(now.saturating_sub(ready));
        if let Some(t) = core.timings().filter(|_| attempt == 1) {
            t.first_start_ns.store(now, Relaxed);
        }
        if let Some(k) = self.kind_metrics(core) {
            deferred.dequeued();
            k.wait.record(wait.as_secs_f64());
        }
        self.emit(|| Event::Started { job: self.info(core), attempt, wait });
        now
    }

    /// An attempt did not complete in its first poll: it counts as running until it stops
    /// (`stopped` with `waited`).
    pub(crate) fn running(&self) {
        if let Some(m) = &self.metrics {
            m.running.increment(1.0);
        }
    }

    /// Records the end of an attempt that started at `started`; returns the time it ended
    /// (`None` when nobody reads timings), which the job's report reuses if this was its last.
    /// `waited`: whether the attempt was counted [`running`](Self::running).
    pub(crate) fn stopped(&self, core: &Core, started: u64, waited: bool) -> Option<u64> {
        if !self.timing() {
            return None;
        }
        let now = self.now_ns();
        let run = now.saturating_sub(started);
        // Attempts run one after another: no other writer, so no read-modify-write.
        if let Some(t) = core.timings() {
            t.run_ns.store(t.run_ns.load(Relaxed) + run, Relaxed);
        }
        if let Some(m) = &self.metrics {
            if waited {
                m.running.decrement(1.0);
            }
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
    /// `deferred`: the worker's held-back updates, when a worker resolves the job.
    pub(crate) fn record_finish(
        &self,
        core: &Core,
        err: Option<&JobError>,
        ended: Option<u64>,
        deferred: Option<&Deferred>,
    ) {
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
        match (deferred, core.metrics().is_none()) {
            (Some(d), true) if self.metrics.is_some() => d.finished(outcome),
            _ => {
                if let Some(k) = self.kind_metrics(core) {
                    k.finished[outcome.index()].increment(1);
                }
            }
        }
        if !self.wants_reports() {
            return;
        }
        let now = ended.unwrap_or_else(|| self.now_ns());
        // A job queued before anyone read timings has none (see `core::Timings`): as far as
        // anyone knows, it was queued, started and finished now.
        let (queued, started, run) = match core.timings() {
            Some(t) => {
                let first = t.first_start_ns.load(Relaxed);
                (t.queued_ns, (first != u64::MAX).then_some(first), t.run_ns.load(Relaxed))
            }
            None => (now, (attempts > 0).then_some(now), 0),
        };
        // On the stack: only the event stream, when there is one, needs it shared.
        let report = Finished {
            job: self.info(core),
            outcome,
            attempts,
            queued_at: self.wall(queued),
            started_at: started.map(|s| self.wall(s)),
            finished_at: self.wall(now),
            wait: Duration::from_nanos(started.unwrap_or(now).saturating_sub(queued)),
            run: Duration::from_nanos(run),
            error: err.map(|e| error_text(e, core)),
        };
        if let Some(hook) = &self.on_finish {
            hook(&report);
        }
        self.emit(|| Event::Finished(Arc::new(report)));
    }

    /// Counts a job in, before it is queued or scheduled (before it can resolve), and gives
    /// it its id.
    pub(super) fn enter(&self, core: &Core) {
        core.set_id(self.unresolved.enter());
    }

    /// One job fewer unresolved; wakes `join` at zero.
    pub(crate) fn resolved(&self) {
        if self.unresolved.leave() {
            self.idle.notify_waiters();
        }
    }

    /// Puts a job whose retry delay is over back in the queue.
    async fn requeue(self: &Arc<Self>, task: Item) {
        let core = task.core();
        core.set_ready(self.timed_now());
        core.set_state(State::Queued);
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
    pub(super) fn after_push(&self, core: &Core, key: conveyor_queue::Key) {
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
        if core.state() == State::Finished || !core.request_cancel() {
            return false;
        }
        if core.state() == State::Queued {
            self.remove_queued(core);
            if let Some(task) = self.limits.unpark(core) {
                task.abandon(self, JobError::Cancelled);
            }
            if core.is_limited()
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
    pub(super) fn start_released(
        self: &Arc<Self>,
        key: &Arc<str>,
        ready: Vec<Item>,
        timer: Option<Duration>,
    ) {
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
    pub(super) fn configure(
        self: &Arc<Self>,
        key: &Arc<str>,
        change: impl FnOnce(&mut crate::limit::Settings<'_>),
    ) {
        let (ready, timer) = self.limits.configure(key, change);
        self.start_released(key, ready, timer);
    }

    /// Waits until the pool is resumed; `false` if it closed meanwhile.
    pub(super) async fn wait_resumed(&self) -> bool {
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
    pub(super) fn cancel_all(&self) {
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

    pub(super) async fn join(&self) {
        let _joiner = self.unresolved.join();
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.unresolved.get() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Stops the workers once everything is resolved, and says so on the event stream.
    pub(super) async fn finish_shutdown(&self, before: ShutdownReport) -> ShutdownReport {
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
        JobError::Failed(e) => crate::error::chain_text(e.as_ref()),
        JobError::TimedOut => match core.timeout() {
            Some(t) => format!("timed out after {t:?}"),
            None => "timed out".to_owned(),
        },
        other => other.to_string(),
    }
}
