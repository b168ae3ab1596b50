//! A job's shared state, independent of its result type: identity, options, lifecycle state,
//! cancellation signal and timings.
//!
//! # Lifecycle
//!
//! `(SCHEDULED →) QUEUED → RUNNING → (RETRYING → QUEUED → RUNNING)* → FINISHED`, and
//! `FINISHED` from any
//! state. `FINISHED` is reached exactly once, by a `swap` in [`Core::claim_finish`]: whoever
//! wins it reports the outcome; everyone else drops theirs. That is the whole "exactly one
//! outcome" argument.
//!
//! # Cancel vs start
//!
//! A canceller stores `cancel_requested` then reads `state`; a worker stores `RUNNING` then
//! reads `cancel_requested` (all `SeqCst`). In any interleaving at least one of them sees the
//! other: either the worker refuses to start, or the canceller sees `RUNNING` and signals the
//! attempt — and the attempt's `cancelled()` future checks the flag after registering for the
//! signal, so the signal cannot fall between check and wait.
//!
//! # Cancel vs queued
//!
//! A canceller that sees `QUEUED` takes the queue key and removes the job, so that it leaves
//! the queue at once. The submitter stores the key after the push, then reads
//! `cancel_requested` and removes the job itself if it sees a cancel. The key's store is a
//! release store, so both may miss each other when a cancel races with the submit itself;
//! the job then stays queued until a worker takes it, and [`Core::begin`] refuses it (the
//! cancel vs start argument above). Either way it never starts, and resolves once.
//!
//! # Observers (first start, token helpers)
//!
//! `observed` records who outside the attempt waits for something the hot path would
//! otherwise never announce, so that a job nobody observes pays one load of a byte it
//! already has in cache, and no notification:
//!
//! - A [`started`](crate::JobHandle::started) waiter sets `START_WATCHED` then reads `state`;
//!   a worker stores `RUNNING` (in [`Core::begin`]) then, on the first attempt, reads
//!   `observed` (all `SeqCst`). As for cancel vs start, one of them sees the other: either
//!   the worker notifies, or the waiter sees the state past `QUEUED`. A waiter that sees
//!   `RUNNING` or `FINISHED` with no attempt counted yet is in the few instructions between
//!   `begin` and the attempt count (or the unstarted finish), with no await and no user code
//!   in between: it yields and looks again rather than wait for a notification that may not
//!   come.
//! - A job that resolves without ever starting records why (`UNSTARTED_*`) with a
//!   `fetch_or`, and notifies if `START_WATCHED` was set before: both are read-modify-writes
//!   of the one byte, so one of them sees the other.
//! - A cancellation token's helper task sets `TOKEN_WATCHED` then reads `state`; the end of
//!   an attempt moves `state` off `RUNNING` then reads `observed` and notifies.
//!
//! # Lazy signal
//!
//! The job's `Notify` is boxed and made by its first waiter ([`Core::signal`]), with the
//! marks only an attempt that waits needs (its timeout fired, it watched its signal), so that
//! a job nobody waits for carries 8 bytes for them instead of 40: a batch of a million queued
//! jobs keeps a million cells alive, and their size is the heap the submitter grows. A
//! notifier that finds no signal has no one to wake, as long as a waiter that made it (or
//! found it) after the notifier looked then sees the notifier's condition. Both sides fence
//! (`SeqCst`) between the two: the notifier after it stored its condition and before it
//! looks for the signal, the waiter after it got the signal and before it reads the
//! condition. Of two `SeqCst` fences one comes first, so either the notifier sees the signal
//! (and then `Notify`'s own ordering applies: the waiter's `Notified`, made before its check,
//! is woken or sees the condition), or the waiter sees the condition. Only waiters and
//! notifiers of a job that may be waited for pay the fences; the no-op path never notifies.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::*, fence};
use std::time::Duration;

use conveyor_queue::Key;
use once_cell::race::OnceBox;
use tokio::sync::Notify;

use crate::event::Tag;
use crate::metrics::KindMetrics;
use crate::pool::Inner;
use crate::retry::RetryPolicy;

/// A job's id, unique within its pool, in the order jobs are queued (a submit that waits for
/// room in the queue gets its id once there is room).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let job = || Job::new(|_| async { Ok::<_, std::io::Error>(()) });
/// let a = pool.submit(job()).await.unwrap();
/// let b = pool.submit(job()).await.unwrap();
/// assert!(a.id() < b.id());
/// assert_eq!(a.id().to_string(), a.id().get().to_string());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub(crate) u64);

impl JobId {
    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// assert_eq!(h.id().get(), 0); // the pool's first job
    /// # }
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is in its [lifecycle](self#lifecycle). Stored in an `AtomicU8` (see
/// [`Core::state`]); the number never leaves this module.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Queued = 0,
    Retrying = 1,
    Running = 2,
    Finished = 3,
    Scheduled = 4,
}

impl From<State> for u8 {
    fn from(state: State) -> u8 {
        state as u8
    }
}

impl From<u8> for State {
    /// Only the values of `State as u8` are ever stored, so any other byte is unreachable;
    /// it reads as `Finished`, the state that holds no one back.
    fn from(byte: u8) -> State {
        match byte {
            0 => State::Queued,
            1 => State::Retrying,
            2 => State::Running,
            4 => State::Scheduled,
            _ => State::Finished,
        }
    }
}

const NO_KEY: u64 = u64::MAX;

/// `observed` bits: someone awaits the first start.
const START_WATCHED: u8 = 1;
/// `observed` bits: a cancellation token's helper task awaits the end of an attempt.
const TOKEN_WATCHED: u8 = 2;
/// `observed` bits: the job resolved without starting, cancelled.
const UNSTARTED_CANCELLED: u8 = 4;
/// `observed` bits: the job resolved without starting, because the pool shut down.
const UNSTARTED_SHUTDOWN: u8 = 8;

/// What a [`started`](crate::JobHandle::started) waiter learns from one look.
pub(crate) enum StartCheck {
    /// The first attempt has started (it may have finished since).
    Started,
    /// The job resolved without starting, with this error.
    Unstarted(crate::JobError),
    /// Not started yet: wait for the signal.
    Waiting,
    /// Between the start (or the refusal to start) and its record: look again at once.
    Busy,
}

/// A job's options beyond its priority and shield. Boxed in [`Core`], and only when one is
/// set: a job's cell lives as long as its handle, and a batch of a million no-op jobs held
/// 112 bytes of empty options per job (a third of the cell) before.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<Arc<str>>,
    /// Not cloned per job for the pool's default (a shared `Arc`'s count is a cache line
    /// every thread would fight over): `None` then.
    pub(crate) kind: Option<Arc<str>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Arc<RetryPolicy>>,
    pub(crate) key: Option<Arc<str>>,
    pub(crate) rate_key: Option<Arc<str>>,
    pub(crate) tag: Option<Tag>,
    pub(crate) metrics: Option<Arc<KindMetrics>>,
    /// Set by the pool, for a job queued while someone wants reports (see [`Timings`]).
    /// Boxed: inline, they took a keyed job's options past 120 bytes, out of glibc's fast
    /// bins (see `Timings`), for every keyed job, reports or not.
    pub(crate) timings: Option<Box<Timings>>,
}

impl Options {
    fn boxed(self) -> Option<Box<Options>> {
        let none = self.name.is_none()
            && self.kind.is_none()
            && self.timeout.is_none()
            && self.retry.is_none()
            && self.key.is_none()
            && self.rate_key.is_none()
            && self.tag.is_none()
            && self.metrics.is_none()
            && self.timings.is_none();
        // A rate key equal to the concurrency key is the one-key case.
        let rate_key = self.rate_key.filter(|r| self.key.as_ref() != Some(r));
        (!none).then(|| Box::new(Options { rate_key, ..self }))
    }
}

pub(crate) struct Core {
    /// The pool the job belongs to: one shared reference per job, which the attempts'
    /// contexts and the handle use (cloning it per attempt and per handle would cost more
    /// contended reference counting).
    pub(crate) pool: Arc<Inner>,
    /// Given when the job is counted in (see [`set_id`](Self::set_id)).
    id: AtomicU64,
    pub(crate) priority: i32,
    pub(crate) shield: bool,
    /// The options most jobs do not set, boxed (`None` when none is set; see [`Options`]).
    options: Option<Box<Options>>,
    /// Set (under the limits' lock) once this attempt took its token of `rate_key`.
    pub(crate) rate_taken: AtomicBool,
    /// Set when a limit release sent this job back to the queue (see `limit.rs`).
    released: AtomicBool,
    state: AtomicU8,
    cancel_requested: AtomicBool,
    pub(crate) attempts: AtomicU32,
    /// Who waits for the first start or an attempt's end, and why a job ended unstarted
    /// (see "Observers" above).
    observed: AtomicU8,
    /// The job's signal and what only an attempt that waits needs: made by the first waiter
    /// (see "Lazy signal" above), as most jobs never wait.
    signal: OnceBox<Signal>,
    /// The queue key's sequence number while queued (`NO_KEY` otherwise).
    key_seq: AtomicU64,
    /// When the job became ready to run (queued, its retry delay over, or its wait for room
    /// over), in nanoseconds since the pool's epoch, for the wait it reports; `UNTIMED` for a
    /// job queued while nobody read timings.
    ready_ns: AtomicU64,
}

/// `ready_ns` of a job queued while nobody read timings.
const UNTIMED: u64 = u64::MAX;

/// When a job was queued and started, and how long it ran, in nanoseconds since the pool's
/// epoch: what its [`Finished`](crate::Finished) report says. In the boxed [`Options`], and
/// only for a job queued while someone wants reports (the finish hook, an event
/// subscriber): inline, they took a no-op job's cell to a 160-byte heap chunk, past the 128
/// bytes of glibc's fast bins, and its `malloc` and `free` were ~400 of its ~1,800
/// instructions (callgrind on the pool bench); see `the_bench_cell_fits_its_size_class`.
pub(crate) struct Timings {
    pub(crate) queued_ns: u64,
    pub(crate) first_start_ns: AtomicU64,
    pub(crate) run_ns: AtomicU64,
}

impl Timings {
    /// A job queued at `now_ns`.
    pub(crate) fn new(now_ns: u64) -> Self {
        Timings { queued_ns: now_ns, first_start_ns: AtomicU64::new(u64::MAX), run_ns: AtomicU64::new(0) }
    }
}

/// What a job that waits needs, made by its first waiter (see "Lazy signal" above).
#[derive(Default)]
struct Signal {
    /// Wakes the running attempt's `cancelled()`, a retry timer, `started()` waiters and
    /// token helpers (each checks its own condition again after a wake-up).
    notify: Notify,
    /// The attempt number whose timeout fired (0: none). Only an attempt that waits can
    /// time out, and its timer waits on the signal first.
    timed_out_attempt: AtomicU32,
    /// The latest attempt that looked at its cancellation signal (0: none). An attempt that
    /// never looks cannot clean up, so it is dropped at once instead of after the grace.
    watched_attempt: AtomicU32,
}

impl Core {
    /// A job queued now; `now_ns`: the time, if someone reads timings.
    pub(crate) fn new(
        pool: Arc<Inner>,
        priority: i32,
        shield: bool,
        options: Options,
        now_ns: Option<u64>,
    ) -> Self {
        Core {
            pool,
            id: AtomicU64::new(0),
            priority,
            shield,
            options: options.boxed(),
            rate_taken: AtomicBool::new(false),
            released: AtomicBool::new(false),
            state: AtomicU8::new(State::Queued.into()),
            cancel_requested: AtomicBool::new(false),
            observed: AtomicU8::new(0),
            attempts: AtomicU32::new(0),
            signal: OnceBox::new(),
            key_seq: AtomicU64::new(NO_KEY),
            ready_ns: AtomicU64::new(now_ns.unwrap_or(UNTIMED)),
        }
    }

    /// The job's report times, if it was queued while someone wanted reports (see
    /// [`Timings`]).
    pub(crate) fn timings(&self) -> Option<&Timings> {
        self.options()?.timings.as_deref()
    }

    /// When the job became ready to run, if it was queued while someone read timings.
    pub(crate) fn ready_ns(&self) -> Option<u64> {
        Some(self.ready_ns.load(Relaxed)).filter(|&t| t != UNTIMED)
    }

    /// The job is ready to run again from `now_ns` (`None`: nobody reads timings now); a
    /// retry's delay or a wait for room is over.
    pub(crate) fn set_ready(&self, now_ns: Option<u64>) {
        self.ready_ns.store(now_ns.unwrap_or(UNTIMED), Relaxed);
    }

    /// The job's id.
    pub(crate) fn id(&self) -> JobId {
        JobId(self.id.load(Relaxed))
    }

    /// Gives the job its id as it is counted in, before it is queued or scheduled: the id is
    /// the pool's count of jobs in (one read-modify-write for both). Whoever learns of the
    /// job later learns it through the queue's lock or a spawn, after this store.
    pub(crate) fn set_id(&self, id: u64) {
        self.id.store(id, Relaxed);
    }

    fn options(&self) -> Option<&Options> {
        self.options.as_deref()
    }

    /// The options back, for a job that was never queued (without the pool's timings).
    pub(crate) fn into_options(self) -> Options {
        self.options.map(|o| Options { timings: None, ..*o }).unwrap_or_default()
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.options()?.name.as_ref()
    }

    /// The job's own kind label; `None` for the pool's default.
    pub(crate) fn kind(&self) -> Option<&Arc<str>> {
        self.options()?.kind.as_ref()
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.options()?.timeout
    }

    pub(crate) fn retry(&self) -> Option<&Arc<RetryPolicy>> {
        self.options()?.retry.as_ref()
    }

    /// The concurrency key (and rate key, when `rate_key` is `None`), if any.
    pub(crate) fn key(&self) -> Option<&Arc<str>> {
        self.options()?.key.as_ref()
    }

    /// The rate key, if any and different from `key` (see `limit.rs`).
    pub(crate) fn rate_key(&self) -> Option<&Arc<str>> {
        self.options()?.rate_key.as_ref()
    }

    /// The caller's data ([`Job::tag`](crate::Job::tag)).
    pub(crate) fn tag(&self) -> Option<&Tag> {
        self.options()?.tag.as_ref()
    }

    /// Metric handles of a non-default kind (the default kind's live in the pool).
    pub(crate) fn metrics(&self) -> Option<&KindMetrics> {
        self.options()?.metrics.as_deref()
    }

    /// Whether the job has a concurrency or rate key.
    pub(crate) fn is_limited(&self) -> bool {
        self.options().is_some_and(|o| o.key.is_some() || o.rate_key.is_some())
    }

    pub(crate) fn state(&self) -> State {
        State::from(self.state.load(SeqCst))
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.store(state.into(), SeqCst);
    }

    /// Marks the job as sent back to the queue by a limit release.
    pub(crate) fn mark_released(&self) {
        self.released.store(true, Relaxed);
    }

    /// Whether a limit release sent the job back (and clears the mark).
    pub(crate) fn take_released(&self) -> bool {
        self.released.swap(false, Relaxed)
    }

    /// Wins the right to report the outcome; `false` if someone else already did.
    pub(crate) fn claim_finish(&self) -> bool {
        State::from(self.state.swap(State::Finished.into(), SeqCst)) != State::Finished
    }

    /// Stores the queue key after a push. A release store, not `SeqCst` (an `xchg`, a full
    /// fence, on every job): see "Cancel vs queued" above for why a cancel that misses it
    /// still cancels.
    pub(crate) fn set_key(&self, key: Key) {
        self.key_seq.store(key.seq(), Release);
    }

    /// The key of the job's latest push, without clearing it.
    pub(crate) fn queued_key(&self) -> Option<Key> {
        match self.key_seq.load(SeqCst) {
            NO_KEY => None,
            seq => Some(Key::from_parts(self.priority, seq)),
        }
    }

    pub(crate) fn take_key(&self) -> Option<Key> {
        match self.key_seq.swap(NO_KEY, SeqCst) {
            NO_KEY => None,
            seq => Some(Key::from_parts(self.priority, seq)),
        }
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(SeqCst)
    }

    /// Records a cancel request; `false` if one was already recorded.
    pub(crate) fn request_cancel(&self) -> bool {
        let first = !self.cancel_requested.swap(true, SeqCst);
        if first {
            self.notify();
        }
        first
    }

    /// The job's signal, for a waiter: made if nobody made it yet. The caller then makes its
    /// `Notified`, enables it, and only then reads its condition (see "Lazy signal" above).
    pub(crate) fn signal(&self) -> &Notify {
        let signal = self.lazy();
        // Orders the signal's publication (or the look at it) before the caller's read of
        // its condition: pairs with the fence in `notify`.
        fence(SeqCst);
        &signal.notify
    }

    /// The signal box, made if nobody made it yet.
    fn lazy(&self) -> &Signal {
        self.signal.get_or_init(Box::default)
    }

    /// Whether a waiter made the job's signal.
    #[cfg(test)]
    pub(crate) fn has_signal(&self) -> bool {
        self.signal.get().is_some()
    }

    /// Wakes the signal's waiters, if the signal was made: a job nobody waited for has no
    /// waiter to wake. Called after the store of the condition the waiters check.
    fn notify(&self) {
        // Orders the caller's store of the condition before the look at the signal: pairs
        // with the fence in `signal`.
        fence(SeqCst);
        if let Some(signal) = self.signal.get() {
            signal.notify.notify_waiters();
        }
    }

    /// Moves to `RUNNING` unless a cancel (of the job or of all the pool's work) came first.
    pub(crate) fn begin(&self, pool: &Inner) -> bool {
        self.state.store(State::Running.into(), SeqCst);
        !(self.cancel_requested.load(SeqCst) || pool.is_cancelling())
    }

    pub(crate) fn mark_timed_out(&self, attempt: u32) {
        self.lazy().timed_out_attempt.store(attempt, SeqCst);
        self.notify();
    }

    /// Notes that attempt `attempt` watches its cancellation signal.
    pub(crate) fn watch(&self, attempt: u32) {
        self.lazy().watched_attempt.store(attempt, Relaxed);
    }

    /// Whether attempt `attempt` ever looked at its cancellation signal.
    pub(crate) fn watched(&self, attempt: u32) -> bool {
        attempt != 0 && self.signal.get().is_some_and(|s| s.watched_attempt.load(Relaxed) == attempt)
    }

    /// Whether attempt `attempt` ran past its timeout (attempt 0 — "between attempts" —
    /// never did; nor did a job whose signal was never made: the timeout is marked in it).
    pub(crate) fn timed_out(&self, attempt: u32) -> bool {
        attempt != 0 && self.signal.get().is_some_and(|s| s.timed_out_attempt.load(SeqCst) == attempt)
    }

    /// Whether cancellation reaches this job now (shielded jobs are out of reach once
    /// started).
    pub(crate) fn cancelled(&self, pool: &Inner) -> bool {
        (!self.shield || self.attempts.load(SeqCst) == 0)
            && (self.cancel_requested.load(SeqCst) || pool.is_cancelling())
    }

    /// The error of a job stopped before an attempt: `Shutdown` if it never ran and only the
    /// pool's shutdown stopped it, `Cancelled` otherwise.
    pub(crate) fn stop_error(&self, pool: &Inner) -> crate::JobError {
        if self.attempts.load(SeqCst) == 0 && pool.is_cancelling() && !self.cancel_requested() {
            crate::JobError::Shutdown
        } else {
            crate::JobError::Cancelled
        }
    }

    /// Whether attempt `attempt` must stop: cancelled, or past its timeout.
    pub(crate) fn should_stop(&self, pool: &Inner, attempt: u32) -> bool {
        self.timed_out(attempt) || self.cancelled(pool)
    }

    /// Called by the worker right after it counted the first attempt: wakes `started()`
    /// waiters, if any. One load when nobody waits.
    pub(crate) fn first_started(&self) {
        if self.observed.load(SeqCst) & START_WATCHED != 0 {
            self.notify();
        }
    }

    /// Records that the job resolved with `err` without ever starting, and wakes
    /// `started()` waiters. Called once, by whoever won [`claim_finish`](Self::claim_finish).
    pub(crate) fn finished_unstarted(&self, err: &crate::JobError) {
        let why = match err {
            crate::JobError::Shutdown => UNSTARTED_SHUTDOWN,
            _ => UNSTARTED_CANCELLED,
        };
        if self.observed.fetch_or(why, SeqCst) & START_WATCHED != 0 {
            self.notify();
        }
    }

    /// Registers a `started()` waiter (the caller enabled its `signal` notification first)
    /// and says where the first start stands.
    pub(crate) fn check_started(&self) -> StartCheck {
        let seen = self.observed.fetch_or(START_WATCHED, SeqCst);
        if let Some(err) = unstarted_error(seen) {
            return StartCheck::Unstarted(err);
        }
        let state = self.state();
        // A state read after a retry's (or its requeue's) store carries the attempt count
        // with it, so a counted attempt shows here whenever one started.
        if self.attempts.load(SeqCst) > 0 {
            return StartCheck::Started;
        }
        if let Some(err) = unstarted_error(self.observed.load(SeqCst)) {
            return StartCheck::Unstarted(err);
        }
        match state {
            State::Queued | State::Scheduled => StartCheck::Waiting,
            _ => StartCheck::Busy,
        }
    }

    /// Registers a token helper for the running attempt (before it is spawned).
    pub(crate) fn watch_attempt_end(&self) {
        self.observed.fetch_or(TOKEN_WATCHED, SeqCst);
    }

    /// Called by the worker after an attempt's end moved `state` off `RUNNING`: wakes token
    /// helpers, if any. One load when there are none.
    pub(crate) fn attempt_over(&self) {
        if self.observed.load(SeqCst) & TOKEN_WATCHED != 0 {
            self.notify();
        }
    }

    /// Whether attempt `attempt` is over (or a later one has begun).
    fn attempt_is_over(&self, attempt: u32) -> bool {
        self.state() != State::Running || self.attempts.load(SeqCst) != attempt
    }

    /// Resolves once attempt `attempt` is over. The caller registered with
    /// [`watch_attempt_end`](Self::watch_attempt_end) first.
    ///
    /// (Only in the few instructions between the next attempt's `begin` and its count can
    /// this miss the end; it then resolves when that next attempt ends.)
    pub(crate) async fn attempt_ended(&self, attempt: u32) {
        loop {
            let ended = self.signal().notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.attempt_is_over(attempt) {
                return;
            }
            ended.await;
        }
    }

    /// Resolves once [`should_stop`](Self::should_stop) holds.
    pub(crate) async fn stopped(&self, pool: &Inner, attempt: u32) {
        loop {
            let job = self.signal().notified();
            let all = pool.signal.notified();
            tokio::pin!(job, all);
            job.as_mut().enable();
            all.as_mut().enable();
            if self.should_stop(pool, attempt) {
                return;
            }
            tokio::select! {
                _ = job => {}
                _ = all => {}
            }
        }
    }
}

/// The error of a job that resolved unstarted, from the `observed` bits.
fn unstarted_error(observed: u8) -> Option<crate::JobError> {
    if observed & UNSTARTED_SHUTDOWN != 0 {
        Some(crate::JobError::Shutdown)
    } else if observed & UNSTARTED_CANCELLED != 0 {
        Some(crate::JobError::Cancelled)
    } else {
        None
    }
}
