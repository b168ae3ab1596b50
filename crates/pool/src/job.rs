//! What a job is: a closure run per attempt, and its options.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::context::JobContext;
use crate::error::BoxError;
use crate::event::Tag;
use crate::retry::RetryPolicy;

/// How one attempt of a job ended, before the pool decides on a retry. (Public only because
/// the sealed [`Run`] trait names it; not reachable from outside the crate.)
#[doc(hidden)]
#[allow(unreachable_pub)]
pub enum AttemptFailure {
    Failed(BoxError),
    Panicked(String),
}

#[doc(hidden)]
#[allow(unreachable_pub)]
pub type AttemptResult<T> = Result<T, AttemptFailure>;

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// The body of a job: implemented by [`Async`] and [`Blocking`], made by [`Job::new`] and
/// [`Job::blocking`]. Sealed: it appears in bounds only.
pub trait Run<T>: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn attempt(&self, ctx: JobContext) -> impl Future<Output = AttemptResult<T>> + Send + 'static;

    /// Called once as the job is submitted: a blocking body takes the pool's permits for
    /// blocking threads (see [`PoolBuilder::blocking_workers`](crate::PoolBuilder::blocking_workers)).
    #[doc(hidden)]
    fn bind(&mut self, _blocking: &Arc<tokio::sync::Semaphore>) {}
}

/// An async job body: a closure returning a future, called once per attempt.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Async, Job, JobContext};
/// let job: Job<Async<_>> = Job::new(|ctx: JobContext| async move { Ok::<_, std::io::Error>(ctx.attempt()) });
/// # let _ = job;
/// ```
pub struct Async<F>(F);

/// A blocking job body: a closure run on tokio's blocking threads, once per attempt.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Blocking, Job};
/// let job: Job<Blocking<_>> = Job::blocking(|_ctx| Ok::<_, std::io::Error>((1..=20u64).product::<u64>()));
/// # let _ = job;
/// ```
pub struct Blocking<F>(Arc<F>, Option<Arc<tokio::sync::Semaphore>>);

impl<F> sealed::Sealed for Async<F> {}
impl<F> sealed::Sealed for Blocking<F> {}

pin_project_lite::pin_project! {
    /// An async body's attempt: polls the body's future, turning a panic into
    /// [`AttemptFailure::Panicked`], or yields the panic of the closure that was to make it.
    ///
    /// A plain enum, not an `async` block: a block would keep the future it was given and
    /// the one it awaits side by side (a copy each), which made a no-op job's attempt
    /// future, which each attempt boxes, twice the size.
    #[project = CatchPanicProj]
    enum CatchPanic<Fut> {
        Running { #[pin] fut: Fut },
        Panicked { failure: Option<AttemptFailure> },
    }
}

impl<Fut, T, E> Future for CatchPanic<Fut>
where
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = AttemptResult<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = match self.project() {
            CatchPanicProj::Running { fut } => fut,
            CatchPanicProj::Panicked { failure } => {
                let failure = failure.take();
                return Poll::Ready(Err(failure
                    .unwrap_or_else(|| AttemptFailure::Panicked("attempt polled after it ended".into()))));
            }
        };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(v))) => Poll::Ready(Ok(v)),
            Ok(Poll::Ready(Err(e))) => Poll::Ready(Err(AttemptFailure::Failed(e.into()))),
            Err(payload) => Poll::Ready(Err(AttemptFailure::Panicked(panic_message(&*payload)))),
        }
    }
}

impl<F, Fut, T, E> Run<T> for Async<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
    T: Send + 'static,
{
    fn attempt(&self, ctx: JobContext) -> impl Future<Output = AttemptResult<T>> + Send + 'static {
        // The closure itself may panic before it returns a future.
        match catch_unwind(AssertUnwindSafe(|| (self.0)(ctx))) {
            Ok(fut) => CatchPanic::Running { fut },
            Err(payload) => {
                CatchPanic::Panicked { failure: Some(AttemptFailure::Panicked(panic_message(&*payload))) }
            }
        }
    }
}

impl<F, T, E> Run<T> for Blocking<F>
where
    F: Fn(JobContext) -> Result<T, E> + Send + Sync + 'static,
    E: Into<BoxError>,
    T: Send + 'static,
{
    fn bind(&mut self, blocking: &Arc<tokio::sync::Semaphore>) {
        self.1 = Some(blocking.clone());
    }

    fn attempt(&self, ctx: JobContext) -> impl Future<Output = AttemptResult<T>> + Send + 'static {
        let f = self.0.clone();
        let permits = self.1.clone();
        async move {
            // A permit for a blocking thread, held by the thread until `f` returns (even past
            // a cancel, while the thread still runs); the pool never closes the semaphore.
            let permit = match permits {
                Some(p) => p.acquire_owned().await.ok(),
                None => None,
            };
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(ctx).map_err(Into::into)
            });
            match task.await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(AttemptFailure::Failed(e)),
                Err(join) => match join.try_into_panic() {
                    Ok(payload) => Err(AttemptFailure::Panicked(panic_message(&*payload))),
                    Err(join) => Err(AttemptFailure::Failed(Box::new(join))),
                },
            }
        }
    }
}

/// The options of one job; defaults come from the pool.
#[derive(Clone, Default)]
pub(crate) struct JobOptions {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) kind: Option<Arc<str>>,
    pub(crate) priority: i32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Arc<RetryPolicy>>,
    pub(crate) shield: bool,
    pub(crate) delay: Option<Duration>,
    pub(crate) not_before: Option<std::time::SystemTime>,
    pub(crate) key: Option<Arc<str>>,
    pub(crate) tag: Option<Tag>,
}

/// A job to submit to a [`Pool`](crate::Pool): its body and its options.
///
/// The body is called once per attempt, so it is an `Fn` (a job with a retry policy may run
/// more than once): clone what an attempt consumes inside the closure.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool, RetryPolicy};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(2).build();
/// let url = String::from("https://example.invalid/report");
/// let job = Job::new(move |_ctx| {
///     let url = url.clone();
///     async move { Ok::<_, std::io::Error>(url.len()) }
/// })
/// .name("fetch report")
/// .kind("http")
/// .priority(1)
/// .timeout(Duration::from_secs(5))
/// .retry(RetryPolicy::exponential(3, Duration::from_millis(100)));
/// assert_eq!(pool.submit(job).await.unwrap().await.unwrap(), 30);
/// # }
/// ```
#[must_use = "a job does nothing until it is submitted to a pool"]
pub struct Job<R> {
    pub(crate) run: R,
    pub(crate) options: JobOptions,
}

impl<R> fmt::Debug for Job<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.options.name)
            .field("kind", &self.options.kind)
            .field("priority", &self.options.priority)
            .field("timeout", &self.options.timeout)
            .field("retry", &self.options.retry)
            .field("shield", &self.options.shield)
            .finish_non_exhaustive()
    }
}

impl<F> Job<Async<F>> {
    /// An async job: `f` is called with a [`JobContext`] for each attempt and returns a future
    /// of `Result<T, E>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// let job = Job::new(|ctx| async move {
    ///     tokio::select! {
    ///         _ = ctx.cancelled() => Err("cancelled: cleaned up"),
    ///         _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => Ok("done"),
    ///     }
    /// });
    /// # let _ = job;
    /// ```
    pub fn new<Fut, T, E>(f: F) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        Job { run: Async(f), options: JobOptions::default() }
    }
}

impl<F> Job<Blocking<F>> {
    /// A blocking job: `f` runs on tokio's blocking threads (`spawn_blocking`), so CPU-bound
    /// or blocking work never stalls the async workers. A cancelled or timed-out blocking
    /// attempt cannot be interrupted: after the grace period the pool stops waiting for it
    /// and resolves the job, and the thread finishes on its own (check
    /// [`JobContext::is_cancelled`] to stop early).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::blocking(|_| Ok::<_, std::io::Error>((1..=10u64).sum::<u64>()))).await.unwrap();
    /// assert_eq!(h.await.unwrap(), 55);
    /// # }
    /// ```
    pub fn blocking<T, E>(f: F) -> Self
    where
        F: Fn(JobContext) -> Result<T, E> + Send + Sync + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        Job { run: Blocking(Arc::new(f), None), options: JobOptions::default() }
    }
}

impl<R> Job<R> {
    /// How long after submission the job becomes runnable, if it has to wait at all.
    pub(crate) fn start_delay(&self) -> Option<Duration> {
        let until =
            self.options.not_before.and_then(|at| at.duration_since(std::time::SystemTime::now()).ok());
        let delay = match (self.options.delay, until) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b)?,
        };
        (!delay.is_zero()).then_some(delay)
    }

    /// Sets the priority: lower runs first. Default: 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// let urgent = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).priority(-1);
    /// # let _ = urgent;
    /// ```
    pub fn priority(mut self, priority: i32) -> Self {
        self.options.priority = priority;
        self
    }

    /// Names the job for events and logs. Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).name("nightly backup");
    /// # let _ = job;
    /// ```
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.options.name = Some(name.into());
        self
    }

    /// Attaches `tag`, the caller's own data, to the job: the pool never looks at it and
    /// hands it back in every [`JobInfo`](crate::JobInfo) of the job (its events and its
    /// [`Finished`](crate::Finished) report), so an `on_finish` hook can find what it needs
    /// about the job without a table of its own. Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use conveyor_pool::{Finished, Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// struct Row { line: usize }
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let hook_seen = seen.clone();
    /// let pool = Pool::builder()
    ///     .on_finish(move |f: &Finished| {
    ///         if let Some(row) = f.job.tag.as_ref().and_then(|t| t.downcast_ref::<Row>()) {
    ///             hook_seen.store(row.line, Ordering::SeqCst);
    ///         }
    ///     })
    ///     .build();
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).tag(Arc::new(Row { line: 17 }));
    /// pool.submit(job).await.unwrap().await.unwrap();
    /// pool.shutdown(std::time::Duration::ZERO).await;
    /// assert_eq!(seen.load(Ordering::SeqCst), 17);
    /// # }
    /// ```
    pub fn tag(mut self, tag: Tag) -> Self {
        self.options.tag = Some(tag);
        self
    }

    /// Sets the kind, a low-cardinality label for metrics (`kind="http"`). Default: the
    /// pool's default kind, `"job"`. Never put ids or other unbounded values here.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).kind("thumbnail");
    /// # let _ = job;
    /// ```
    pub fn kind(mut self, kind: impl Into<Arc<str>>) -> Self {
        self.options.kind = Some(kind.into());
        self
    }

    /// Bounds each attempt: past `timeout` the attempt is cancelled like a cancelled job
    /// (its `ctx.cancelled()` fires, then after the grace period — none if the attempt never
    /// watched its signal — its future is dropped) and
    /// ends as [`JobError::TimedOut`](crate::JobError::TimedOut), or is retried if the
    /// policy says so. Default: the pool's default timeout (none unless set).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// use std::time::Duration;
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).timeout(Duration::from_secs(30));
    /// # let _ = job;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Sets the retry policy. Default: the pool's default policy (one attempt unless set).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, RetryPolicy};
    /// use std::time::Duration;
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) })
    ///     .retry(RetryPolicy::fixed(3, Duration::from_secs(1)));
    /// # let _ = job;
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(Arc::new(policy));
        self
    }

    /// Makes the job runnable only `delay` after it is submitted. Until then it is
    /// [`Scheduled`](crate::JobStatus::Scheduled): it holds no worker and no queue slot, and
    /// cancelling it works. Default: runnable at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobStatus, Pool};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let start = tokio::time::Instant::now();
    /// let h = pool
    ///     .submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) }).delay(Duration::from_secs(60)))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(h.status(), JobStatus::Scheduled);
    /// h.await.unwrap();
    /// assert!(start.elapsed() >= Duration::from_secs(60));
    /// # }
    /// ```
    pub fn delay(mut self, delay: Duration) -> Self {
        self.options.delay = Some(delay);
        self
    }

    /// Makes the job runnable no earlier than the wall-clock time `at` (a time in the past
    /// means at once); otherwise like [`delay`](Self::delay). With both, the later one wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// use std::time::{Duration, SystemTime};
    /// let nightly = Job::new(|_| async { Ok::<_, std::io::Error>(()) })
    ///     .not_before(SystemTime::now() + Duration::from_secs(3600));
    /// # let _ = nightly;
    /// ```
    pub fn not_before(mut self, at: std::time::SystemTime) -> Self {
        self.options.not_before = Some(at);
        self
    }

    /// Puts the job under key `key`'s limits: the pool's concurrency limit
    /// ([`PoolBuilder::concurrency_limit`](crate::PoolBuilder::concurrency_limit)), rate limit
    /// ([`PoolBuilder::rate_limit`](crate::PoolBuilder::rate_limit)) and pause
    /// ([`Pool::pause_key`](crate::Pool::pause_key)). A key without limits only groups. A job
    /// waiting for its key holds no worker. Default: no key.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().concurrency_limit("downloads", 3).build();
    /// let h = pool
    ///     .submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) }).concurrency_key("downloads"))
    ///     .await
    ///     .unwrap();
    /// h.await.unwrap();
    /// # }
    /// ```
    pub fn concurrency_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.options.key = Some(key.into());
        self
    }

    /// Shields the job: once it has started, cancellation (by its handle or by shutdown) no
    /// longer reaches it and it runs to its end. A queued shielded job can still be
    /// cancelled. Its timeout still applies. Default: not shielded.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// let payment = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).shield();
    /// # let _ = payment;
    /// ```
    pub fn shield(mut self) -> Self {
        self.options.shield = true;
        self
    }
}
