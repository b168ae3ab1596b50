//! [`Pool`]: submit jobs, wait for idle, shut down. The engine (`Inner`) is private.

mod engine;
mod submit;
mod unresolved;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use conveyor_queue::Queue;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

pub(crate) use engine::Inner;
use engine::Tally;
use unresolved::Unresolved;
use worker::worker;

use crate::builder::PoolBuilder;
use crate::event::Events;
use crate::limit::Limits;
use crate::metrics::Metrics;
use crate::shutdown::ShutdownReport;
// Only the docs link to these.
#[cfg(doc)]
use crate::{error::JobError, job::Job};

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
            .field("unresolved", &inner.unresolved.get())
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
            unresolved: Unresolved::default(),
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
        self.inner().unresolved.get()
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
