//! [`PoolBuilder`]: the pool's settings and their defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::event::Finished;
use crate::pool::Pool;
use crate::retry::RetryPolicy;

pub(crate) type FinishHook = Arc<dyn Fn(&Finished) + Send + Sync>;

/// Configures a [`Pool`]; from [`Pool::builder`].
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Pool, RetryPolicy};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder()
///     .workers(8)
///     .capacity(10_000)
///     .default_timeout(Duration::from_secs(30))
///     .default_retry(RetryPolicy::exponential(3, Duration::from_millis(200)))
///     .grace(Duration::from_secs(2))
///     .build();
/// assert_eq!(pool.workers(), 8);
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct PoolBuilder {
    pub(crate) workers: usize,
    pub(crate) blocking_workers: usize,
    pub(crate) capacity: usize,
    pub(crate) default_timeout: Option<Duration>,
    pub(crate) default_retry: Option<Arc<RetryPolicy>>,
    pub(crate) default_kind: Arc<str>,
    pub(crate) grace: Duration,
    pub(crate) event_buffer: usize,
    pub(crate) metrics: Option<bool>,
    pub(crate) metric_kinds: Vec<Arc<str>>,
    pub(crate) on_finish: Option<FinishHook>,
    pub(crate) concurrency_limits: Vec<(Arc<str>, usize)>,
    pub(crate) rate_limits: Vec<(Arc<str>, u32, Duration)>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("workers", &self.workers)
            .field("blocking_workers", &self.blocking_workers)
            .field("capacity", &self.capacity)
            .field("default_timeout", &self.default_timeout)
            .field("default_retry", &self.default_retry)
            .field("default_kind", &self.default_kind)
            .field("grace", &self.grace)
            .field("event_buffer", &self.event_buffer)
            .field("metrics", &self.metrics)
            .field("metric_kinds", &self.metric_kinds)
            .field("on_finish", &self.on_finish.as_ref().map(|_| ".."))
            .field("concurrency_limits", &self.concurrency_limits)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: DEFAULT_WORKERS,
            blocking_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            capacity: 1024,
            default_timeout: None,
            default_retry: None,
            default_kind: Arc::from("job"),
            grace: Duration::from_secs(5),
            event_buffer: 1024,
            metrics: None,
            metric_kinds: Vec::new(),
            on_finish: None,
            concurrency_limits: Vec::new(),
            rate_limits: Vec::new(),
        }
    }
}

/// The default of [`PoolBuilder::workers`]: jobs running at once.
pub const DEFAULT_WORKERS: usize = 256;

impl PoolBuilder {
    /// How many blocking attempts ([`Job::blocking`](crate::Job::blocking)) run on tokio's
    /// blocking threads at once; more wait for a permit (their time waiting counts towards
    /// their timeout). Each also holds one of the [`workers`](Self::workers) while it waits
    /// and runs. Default: the number of CPUs, since blocking jobs are mostly CPU work.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().blocking_workers(4).build();
    /// # let _ = pool;
    /// # }
    /// ```
    #[track_caller]
    pub fn blocking_workers(mut self, n: usize) -> Self {
        assert!(n > 0, "a pool needs at least one blocking worker");
        self.blocking_workers = n;
        self
    }

    /// How many jobs run at once. Default: [`DEFAULT_WORKERS`] (256): most jobs wait on I/O
    /// (asyncio runs every coroutine at once; Sidekiq, River and graphile-worker default to
    /// many concurrent jobs too), and an idle worker costs a parked task, not a thread.
    /// Blocking jobs have a bound of their own, [`blocking_workers`](Self::blocking_workers).
    ///
    /// # Panics
    ///
    /// Panics if `workers` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().workers(3).build();
    /// assert_eq!(pool.workers(), 3);
    /// # }
    /// ```
    #[track_caller]
    pub fn workers(mut self, workers: usize) -> Self {
        assert!(workers > 0, "a pool needs at least one worker");
        self.workers = workers;
        self
    }

    /// How many jobs may wait in the queue before `submit` waits (and `try_submit` fails).
    /// Default: 1024.
    ///
    /// # Panics
    ///
    /// Panics if `capacity` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().capacity(1).build();
    /// # let _ = pool;
    /// # }
    /// ```
    #[track_caller]
    pub fn capacity(mut self, capacity: usize) -> Self {
        assert!(capacity > 0, "pool capacity must be at least 1");
        self.capacity = capacity;
        self
    }

    /// The timeout per attempt of jobs that set none. Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().default_timeout(std::time::Duration::from_secs(60)).build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }

    /// The retry policy of jobs that set none. Default: one attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::RetryPolicy;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder()
    ///     .default_retry(RetryPolicy::fixed(3, std::time::Duration::from_secs(1)))
    ///     .build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn default_retry(mut self, policy: RetryPolicy) -> Self {
        self.default_retry = Some(Arc::new(policy));
        self
    }

    /// The kind label of jobs that set none. Default: `"job"`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().default_kind("task").build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn default_kind(mut self, kind: impl Into<Arc<str>>) -> Self {
        self.default_kind = kind.into();
        self
    }

    /// How long a cancelled or timed-out attempt may clean up after its `ctx.cancelled()`
    /// fired before its future is dropped. Only attempts that watch their signal (they called
    /// [`JobContext::cancelled`](crate::JobContext::cancelled) or
    /// [`is_cancelled`](crate::JobContext::is_cancelled)) get it: one that never looked cannot
    /// be cleaning up, so it is dropped at once, as a tokio task abort would. Default: 5 s.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().grace(std::time::Duration::ZERO).build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How many events a subscriber may fall behind before it misses some; 0 turns events
    /// off (then [`Pool::events`] streams end at once). Default: 1024.
    ///
    /// Events are made only while a [`Pool::events`] stream is alive: a pool nobody
    /// subscribes to pays one relaxed atomic load per would-be event, not the event.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().event_buffer(0).build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events;
        self
    }

    /// Whether the pool records metrics through the `metrics` facade. Default: on if a
    /// recorder is installed when the pool is built (see
    /// [`metrics::recorder_installed`](crate::metrics::recorder_installed)), off if not: the
    /// facade would discard them, and a pool pays only for what is observed. Install the
    /// recorder first, or say `metrics(true)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().metrics(false).build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = Some(on);
        self
    }

    /// Kinds whose series (`conveyor_jobs_submitted_total`, every outcome of
    /// `conveyor_jobs_finished_total`, retries, both histograms) are created at zero when
    /// the pool is built, instead of with the kind's first job. Prometheus computes `rate()`
    /// from the difference between samples, so a series that first appears with its final
    /// value — a short batch of a new kind, finished between two scrapes — never shows in
    /// a rate; give the kinds you know up front. The default kind is always created.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().metric_kinds(["resize", "upload"]).build();
    /// # let _ = pool;
    /// # }
    /// ```
    pub fn metric_kinds<I, K>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<Arc<str>>,
    {
        self.metric_kinds.extend(kinds.into_iter().map(Into::into));
        self
    }

    /// Calls `hook` once for every job, synchronously, as it resolves — the exact record
    /// (unlike events, which a slow subscriber may miss) for ledgers and summaries. Keep it
    /// short: it runs on the worker. What the hook needs about a job beyond the report can
    /// ride with the job as its [tag](crate::Job::tag). Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let counter = done.clone();
    /// let pool = conveyor_pool::Pool::builder()
    ///     .on_finish(move |_f| { counter.fetch_add(1, Ordering::Relaxed); })
    ///     .build();
    /// pool.submit(conveyor_pool::Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// pool.join().await;
    /// assert_eq!(done.load(Ordering::Relaxed), 1);
    /// # }
    /// ```
    pub fn on_finish(mut self, hook: impl Fn(&Finished) + Send + Sync + 'static) -> Self {
        self.on_finish = Some(Arc::new(hook));
        self
    }

    /// At most `limit` jobs with [`concurrency_key`](crate::Job::concurrency_key) `key` run at
    /// once (asyncio's `Semaphore(limit)`). A job waiting for the key holds no worker: the
    /// worker runs the next runnable job instead. Change it later with
    /// [`Pool::set_concurrency_limit`]. Default: no limits.
    ///
    /// # Panics
    ///
    /// Panics if `limit` is 0 (use [`Pool::pause_key`] to stop a key).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().workers(16).concurrency_limit("downloads", 3).build();
    /// # let _ = pool;
    /// # }
    /// ```
    #[track_caller]
    pub fn concurrency_limit(mut self, key: impl Into<Arc<str>>, limit: usize) -> Self {
        assert!(limit > 0, "a concurrency limit must be at least 1");
        self.concurrency_limits.push((key.into(), limit));
        self
    }

    /// Rate-limits starts of `key`'s jobs to `count` per `per` on average, as a token bucket:
    /// a burst of up to `count` at once, then one start every `per / count` (so a window of
    /// length `per` can see up to `2 * count - 1` starts right after an idle spell, never
    /// more). A job waiting for a token holds no worker.
    /// Change it later with [`Pool::set_rate_limit`]. Default: no limits.
    ///
    /// # Panics
    ///
    /// Panics if `count` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().rate_limit("api", 10, Duration::from_secs(1)).build();
    /// # let _ = pool;
    /// # }
    /// ```
    #[track_caller]
    pub fn rate_limit(mut self, key: impl Into<Arc<str>>, count: u32, per: Duration) -> Self {
        assert!(count > 0, "a rate limit must allow at least 1 start");
        self.rate_limits.push((key.into(), count, per));
        self
    }

    /// Builds the pool and starts its workers on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = conveyor_pool::Pool::builder().build();
    /// # let _ = pool;
    /// # }
    /// ```
    #[track_caller]
    pub fn build(self) -> Pool {
        Pool::from_builder(self)
    }
}
