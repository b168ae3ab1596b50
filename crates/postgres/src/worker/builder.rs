//! [`Worker::builder`] → [`WorkerBuilder`] → [`Worker`]: handlers per kind, named queues and
//! their slots, prefetch, leases.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use conveyor_pool::RetryPolicy;

use super::handler::{Context, Done, Failure, Handler, RawFn, TypedFn};
use crate::insert::JobArgs;
use crate::queue::Queue;

/// Jobs a worker runs at once per queue unless told otherwise: as many as a
/// `conveyor-pool` pool runs by default, made for jobs that wait on I/O.
pub const DEFAULT_SLOTS: usize = conveyor_pool::DEFAULT_WORKERS;

/// The most jobs a worker keeps claimed and ready beyond its running ones, per queue, unless
/// told otherwise (the cap of its adaptive prefetch: see [`WorkerBuilder::prefetch`]).
/// With the default [`batch`](WorkerBuilder::batch) of 2000, the room (slots + prefetch)
/// lets a claim sent as soon as the previous one's jobs are taken be a full batch again.
pub const DEFAULT_PREFETCH: usize = 4096;

/// A worker: handlers per kind over a [`Queue`], not started yet. Start it with
/// [`start`](Worker::start).
#[must_use = "a worker does nothing until it is started"]
pub struct Worker {
    pub(crate) config: Config,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<&String> = self.config.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("Worker")
            .field("name", &self.config.name)
            .field("kinds", &kinds)
            .field("lanes", &self.config.lanes)
            .finish_non_exhaustive()
    }
}

/// One queue a worker claims from, with its own slots and prefetch buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LaneConfig {
    /// `None`: every queue.
    pub(crate) queue: Option<String>,
    pub(crate) slots: usize,
    /// The cap of the lane's adaptive prefetch.
    pub(crate) prefetch: usize,
}

pub(crate) struct Config {
    pub(crate) queue: Queue,
    pub(crate) handlers: HashMap<String, Arc<dyn Handler>>,
    pub(crate) lanes: Vec<LaneConfig>,
    pub(crate) name: String,
    pub(crate) lease: Duration,
    pub(crate) poll: Duration,
    pub(crate) batch: usize,
    pub(crate) completion_delay: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) retention: Option<Duration>,
    pub(crate) exit_when_idle: bool,
    pub(crate) metrics: bool,
    pub(crate) cancel_grace: Duration,
    pub(crate) max_lost: i32,
}

/// Builds a [`Worker`]. Every setter names its default.
#[must_use = "a builder does nothing until `build` is called"]
pub struct WorkerBuilder {
    config: Config,
    queues: Vec<(String, Option<usize>)>,
    slots: usize,
    prefetch: Option<usize>,
    name: Option<String>,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder").field("slots", &self.slots).finish_non_exhaustive()
    }
}

impl Worker {
    /// A builder for a worker on `queue`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use conveyor_postgres::{Done, Queue, Worker};
    /// # async fn demo() -> Result<(), conveyor_postgres::Error> {
    /// let queue = Queue::connect("postgres://127.0.0.1/app", 8).await?;
    /// let worker = Worker::builder(queue)
    ///     .raw("noop", |_ctx| async { Ok(Done::new()) })
    ///     .slots(64)
    ///     .build();
    /// let running = worker.start().await?;
    /// let report = running.stop(std::time::Duration::from_secs(10), std::future::pending()).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(queue: Queue) -> WorkerBuilder {
        WorkerBuilder {
            config: Config {
                queue,
                handlers: HashMap::new(),
                lanes: Vec::new(),
                name: String::new(),
                lease: Duration::from_secs(30),
                poll: Duration::from_secs(1),
                batch: 2000,
                completion_delay: Duration::from_millis(1),
                timeout: None,
                retry: RetryPolicy::exponential(u32::MAX, Duration::from_secs(1))
                    .max_delay(Duration::from_secs(60)),
                retention: None,
                exit_when_idle: false,
                metrics: true,
                cancel_grace: Duration::from_secs(3),
                max_lost: 5,
            },
            queues: Vec::new(),
            slots: DEFAULT_SLOTS,
            prefetch: None,
            name: None,
        }
    }

    /// The worker's name in the queue (`conveyor_attempts.worker`, the ledger's `worker`).
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

impl WorkerBuilder {
    /// Registers `handler` for jobs of `kind` (replacing an earlier one). A worker claims
    /// only the kinds it has handlers for.
    pub fn handler(mut self, kind: impl Into<String>, handler: impl Handler) -> Self {
        self.config.handlers.insert(kind.into(), Arc::new(handler));
        self
    }

    /// Registers a raw handler for `kind`: an async closure from the job's [`Context`]
    /// (arguments as JSON) to its outcome.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use conveyor_postgres::{Done, Failure, Worker};
    /// # fn demo(queue: conveyor_postgres::Queue) {
    /// let worker = Worker::builder(queue)
    ///     .raw("echo", |ctx| async move {
    ///         match ctx.args().get("text") {
    ///             Some(text) => { println!("{text}"); Ok(Done::new()) }
    ///             None => Err(Failure::fatal("no text")),
    ///         }
    ///     })
    ///     .build();
    /// # }
    /// ```
    pub fn raw<F, Fut>(self, kind: impl Into<String>, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Done, Failure>> + Send + 'static,
    {
        self.handler(kind, RawFn(f))
    }

    /// Registers a typed handler for `A::KIND`: the job's arguments are decoded into `A`
    /// (arguments that do not decode fail the job for good); an `Err` is a failure,
    /// retried as the retry policy says while attempts are left.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Resize { image: u64 }
    /// # impl conveyor_postgres::JobArgs for Resize { const KIND: &'static str = "resize"; }
    /// # fn demo(queue: conveyor_postgres::Queue) {
    /// let worker = conveyor_postgres::Worker::builder(queue)
    ///     .handle(|job: Resize, ctx| async move {
    ///         if ctx.attempt() > 1 { eprintln!("retrying image {}", job.image); }
    ///         Ok::<(), String>(())
    ///     })
    ///     .build();
    /// # }
    /// ```
    pub fn handle<A, F, Fut, E>(self, f: F) -> Self
    where
        A: JobArgs,
        F: Fn(A, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.handler(A::KIND, TypedFn(f, std::marker::PhantomData))
    }

    /// Claims only from these named queues, each with `Some(slots)` of its own or the
    /// worker's [`slots`](WorkerBuilder::slots) [default: every queue, together].
    pub fn queues<I, Q>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = (Q, Option<usize>)>,
        Q: Into<String>,
    {
        self.queues = queues.into_iter().map(|(q, s)| (q.into(), s)).collect();
        self
    }

    /// Jobs run at once (per queue) [default: [`DEFAULT_SLOTS`], made for I/O-bound jobs].
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = slots.max(1);
        self
    }

    /// The most claimed jobs kept ready beyond the running ones, per queue [default:
    /// [`DEFAULT_PREFETCH`]]. 0 claims only for free slots.
    ///
    /// The prefetch adapts below this cap: it starts at as many as the slots (or the cap, if
    /// smaller), and after each claim it doubles while the jobs held when the claim was sent
    /// ended faster than two claim round trips (more than half of them ended before it
    /// returned: quick jobs, whose claims should be large; it quadruples when all of them
    /// did, as the slots then waited for the claim), halves when they last more than
    /// eight (jobs sit in the buffer), and halves after a claim that came back short (the
    /// queue ran dry), never below the start. A claim takes at least half the free room
    /// (slots + prefetch), up to the [`batch`](WorkerBuilder::batch).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(queue: conveyor_postgres::Queue) {
    /// // Slow jobs: never more than 16 waiting in this worker while others may be idle.
    /// let worker = conveyor_postgres::Worker::builder(queue).slots(8).prefetch(16).build();
    /// # }
    /// ```
    pub fn prefetch(mut self, jobs: usize) -> Self {
        self.prefetch = Some(jobs);
        self
    }

    /// Most jobs taken in one claim [default: 2000]. Fewer, larger claims cost the
    /// database less per job; the adaptive [`prefetch`](WorkerBuilder::prefetch) decides
    /// how large a claim may be below this.
    pub fn batch(mut self, jobs: usize) -> Self {
        self.config.batch = jobs.max(1);
        self
    }

    /// The worker's name [default: `HOST-PID-NONCE`, the nonce fresh at every start].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The lease of a claimed job: heartbeats renew it every third [default: 30 s].
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// Look for jobs at least this often without a notification [default: 1 s].
    pub fn poll(mut self, every: Duration) -> Self {
        self.config.poll = every.max(Duration::from_millis(1));
        self
    }

    /// How long an outcome may wait for others to share its write [default: 1 ms]. Writes
    /// are flushed on shutdown.
    pub fn completion_delay(mut self, delay: Duration) -> Self {
        self.config.completion_delay = delay;
        self
    }

    /// The time limit of an attempt whose handler sets none [default: none].
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The delays between attempts (the number of attempts is the job's own) [default:
    /// exponential from 1 s, at most 60 s].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// Delete jobs this long after they finished [default: never].
    pub fn retention(mut self, keep: Option<Duration>) -> Self {
        self.config.retention = keep;
        self
    }

    /// Let [`RunningWorker::idle`](crate::RunningWorker::idle) resolve once nothing of
    /// this worker's kinds and queues waits, is scheduled or runs [default: off].
    pub fn exit_when_idle(mut self, on: bool) -> Self {
        self.config.exit_when_idle = on;
        self
    }

    /// Emit metrics through the `metrics` facade [default: on].
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// How long a cancelled attempt may clean up before it is dropped [default: 3 s].
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    /// Builds the worker.
    pub fn build(mut self) -> Worker {
        let prefetch = self.prefetch.unwrap_or(DEFAULT_PREFETCH);
        self.config.lanes = if self.queues.is_empty() {
            vec![LaneConfig { queue: None, slots: self.slots, prefetch }]
        } else {
            self.queues
                .iter()
                .map(|(q, s)| {
                    let slots = s.unwrap_or(self.slots).max(1);
                    LaneConfig { queue: Some(q.clone()), slots, prefetch }
                })
                .collect()
        };
        self.config.name = self.name.unwrap_or_else(default_name);
        Worker { config: self.config }
    }
}

/// `HOST-PID-NONCE`: the nonce (the start time's nanoseconds, hashed with the address of a
/// fresh allocation) tells apart two processes of one PID, e.g. in two containers.
fn default_name() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(nanos.as_nanos());
    let nonce = h.finish() & 0xff_ffff;
    format!("{host}-{}-{nonce:06x}", std::process::id())
}
