//! What a job is: a closure run per attempt, and its options.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
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
    use super::{BoxError, Fallible, Infallible};

    pub trait Sealed {}

    /// What a body's return value means: `Result<T, E>` for a [`Fallible`] body (an `Err`
    /// fails the attempt), any `T` for an [`Infallible`] one (it is the value). The marker
    /// keeps the two impls apart: for an infallible body a `Result` is just a value.
    pub trait IntoAttempt<M> {
        type Value;
        fn into_attempt(self) -> Result<Self::Value, BoxError>;
    }

    impl<T, E: Into<BoxError>> IntoAttempt<Fallible> for Result<T, E> {
        type Value = T;
        fn into_attempt(self) -> Result<T, BoxError> {
            self.map_err(Into::into)
        }
    }

    impl<T> IntoAttempt<Infallible> for T {
        type Value = T;
        fn into_attempt(self) -> Result<T, BoxError> {
            Ok(self)
        }
    }
}

use sealed::IntoAttempt;

/// Marks a body that returns `Result<T, E>`: an `Err` fails the attempt (and may be
/// retried). The default mode of [`Async`], [`Blocking`] and [`Once`]; a body that cannot
/// fail has the mode [`Infallible`] instead (made by [`Job::infallible`] and its siblings).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Async, Fallible, Job};
/// let job: Job<Async<_, Fallible>> = Job::new(|_ctx| async { Ok::<_, std::io::Error>(1) });
/// # let _ = job;
/// ```
#[derive(Debug)]
pub enum Fallible {}

/// The body of a job: implemented by [`Async`], [`Blocking`] and [`Once`], made by
/// [`Job::new`], [`Job::blocking`], [`Job::once`] and their `_infallible` forms. Sealed: it
/// appears in bounds only.
pub trait Run<T>: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn attempt(&self, ctx: JobContext) -> impl Future<Output = AttemptResult<T>> + Send + 'static;

    /// Called once as the job is submitted: a blocking body takes the pool's permits for
    /// blocking threads (see [`PoolBuilder::blocking_workers`](crate::PoolBuilder::blocking_workers)).
    #[doc(hidden)]
    fn bind(&mut self, _blocking: &Arc<tokio::sync::Semaphore>) {}

    /// Whether a failed attempt may be followed by another: `false` for a run-once body,
    /// which the pool then never retries, whatever the retry policy.
    #[doc(hidden)]
    fn retries(&self) -> bool {
        true
    }
}

/// An async job body: a closure returning a future, called once per attempt. `M` is
/// [`Fallible`] (made by [`Job::new`]) or [`Infallible`] (made by [`Job::infallible`]).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Async, Job, JobContext};
/// use std::convert::Infallible;
/// let job: Job<Async<_>> = Job::new(|ctx: JobContext| async move { Ok::<_, std::io::Error>(ctx.attempt()) });
/// let answer: Job<Async<_, Infallible>> = Job::infallible(|_ctx| async { 42 });
/// # let _ = (job, answer);
/// ```
pub struct Async<F, M = Fallible>(F, PhantomData<fn() -> M>);

/// A blocking job body: a closure run on tokio's blocking threads, once per attempt. `M` is
/// [`Fallible`] (made by [`Job::blocking`]) or [`Infallible`] (made by
/// [`Job::blocking_infallible`]).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Blocking, Job};
/// use std::convert::Infallible;
/// let job: Job<Blocking<_>> = Job::blocking(|_ctx| Ok::<_, std::io::Error>((1..=20u64).product::<u64>()));
/// let sum: Job<Blocking<_, Infallible>> = Job::blocking_infallible(|_ctx| (1..=20u64).sum::<u64>());
/// # let _ = (job, sum);
/// ```
pub struct Blocking<F, M = Fallible>(Arc<F>, Option<Arc<tokio::sync::Semaphore>>, PhantomData<fn() -> M>);

/// A run-once async job body: an `FnOnce` closure returning a future, called for the job's
/// only attempt (a run-once job is never retried). `M` is [`Fallible`] (made by
/// [`Job::once`]) or [`Infallible`] (made by [`Job::once_infallible`]).
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Once};
/// let report = String::from("quarterly report");
/// let job: Job<Once<_>> = Job::once(move |_ctx| async move { Ok::<_, std::io::Error>(report) });
/// # let _ = job;
/// ```
pub struct Once<F, M = Fallible>(parking_lot::Mutex<Option<F>>, PhantomData<fn() -> M>);

impl<F, M> sealed::Sealed for Async<F, M> {}
impl<F, M> sealed::Sealed for Blocking<F, M> {}
impl<F, M> sealed::Sealed for Once<F, M> {}

pin_project_lite::pin_project! {
    /// An async body's attempt: polls the body's future, turning a panic into
    /// [`AttemptFailure::Panicked`], or yields the failure that kept it from starting (the
    /// panic of the closure that was to make it).
    ///
    /// A plain enum, not an `async` block: a block would keep the future it was given and
    /// the one it awaits side by side (a copy each), which made a no-op job's attempt
    /// future, which a worker's run boxes, twice the size.
    #[project = CatchPanicProj]
    enum CatchPanic<Fut, M> {
        Running { #[pin] fut: Fut, mode: PhantomData<fn() -> M> },
        Ended { failure: Option<AttemptFailure> },
    }
}

impl<Fut, M> CatchPanic<Fut, M> {
    fn running(fut: Fut) -> Self {
        CatchPanic::Running { fut, mode: PhantomData }
    }

    fn panicked(payload: &(dyn Any + Send)) -> Self {
        CatchPanic::Ended { failure: Some(AttemptFailure::Panicked(panic_message(payload))) }
    }
}

impl<Fut, M> Future for CatchPanic<Fut, M>
where
    Fut: Future,
    Fut::Output: IntoAttempt<M>,
{
    type Output = AttemptResult<<Fut::Output as IntoAttempt<M>>::Value>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = match self.project() {
            CatchPanicProj::Running { fut, .. } => fut,
            CatchPanicProj::Ended { failure } => {
                let failure = failure.take();
                return Poll::Ready(Err(failure
                    .unwrap_or_else(|| AttemptFailure::Panicked("attempt polled after it ended".into()))));
            }
        };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(out.into_attempt().map_err(AttemptFailure::Failed)),
            Err(payload) => Poll::Ready(Err(AttemptFailure::Panicked(panic_message(&*payload)))),
        }
    }
}

impl<F, Fut, M, T> Run<T> for Async<F, M>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoAttempt<M, Value = T>,
    M: 'static,
    T: Send + 'static,
{
    fn attempt(&self, ctx: JobContext) -> impl Future<Output = AttemptResult<T>> + Send + 'static {
        // The closure itself may panic before it returns a future.
        match catch_unwind(AssertUnwindSafe(|| (self.0)(ctx))) {
            Ok(fut) => CatchPanic::<Fut, M>::running(fut),
            Err(payload) => CatchPanic::panicked(&*payload),
        }
    }
}

impl<F, Fut, M, T> Run<T> for Once<F, M>
where
    F: FnOnce(JobContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoAttempt<M, Value = T>,
    M: 'static,
    T: Send + 'static,
{
    fn attempt(&self, ctx: JobContext) -> impl Future<Output = AttemptResult<T>> + Send + 'static {
        let Some(f) = self.0.lock().take() else {
            // Unreachable through the pool, which never retries a body that says it
            // `retries() == false`; an honest failure rather than a panic if it ever did.
            let failure = AttemptFailure::Failed("a run-once job cannot run a second attempt".into());
            return CatchPanic::Ended { failure: Some(failure) };
        };
        match catch_unwind(AssertUnwindSafe(|| f(ctx))) {
            Ok(fut) => CatchPanic::<Fut, M>::running(fut),
            Err(payload) => CatchPanic::panicked(&*payload),
        }
    }

    fn retries(&self) -> bool {
        false
    }
}

impl<F, O, M, T> Run<T> for Blocking<F, M>
where
    F: Fn(JobContext) -> O + Send + Sync + 'static,
    O: IntoAttempt<M, Value = T>,
    M: 'static,
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
                f(ctx).into_attempt()
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
    /// The key whose rate limit applies instead of `key`'s ([`Job::rate_key`]).
    pub(crate) rate_key: Option<Arc<str>>,
    pub(crate) tag: Option<Tag>,
}

/// A job to submit to a [`Pool`](crate::Pool): its body and its options.
///
/// # Choosing a constructor
///
/// | the body | returns `Result<T, E>` (an `Err` fails the job) | returns its value `T` |
/// |---|---|---|
/// | async, run per attempt (`Fn`) | [`Job::new`] | [`Job::infallible`] |
/// | blocking, run per attempt (`Fn`) | [`Job::blocking`] | [`Job::blocking_infallible`] |
/// | async, run once (`FnOnce`, never retried) | [`Job::once`] | [`Job::once_infallible`] |
///
/// Use [`Job::new`] when the job can fail or should be retried: the body is called once
/// per attempt, so it is an `Fn` (a job with a retry policy may run more than once), and
/// clones inside the closure what an attempt consumes. A body that cannot fail needs no
/// `Ok::<_, E>(…)` placeholder with the `_infallible` forms; a body that moves what it
/// captured (`move |_| async move { consume(data) }`) needs no clone with [`Job::once`],
/// which gives up retries for it. All of them can still panic, time out and be cancelled.
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
        Job { run: Async(f, PhantomData), options: JobOptions::default() }
    }
}

impl<F> Job<Async<F, Infallible>> {
    /// An async job that cannot fail: `f` is called with a [`JobContext`] for each attempt
    /// and its future's output is the job's value, so the body needs no `Ok::<_, E>(…)`
    /// around it. It can still panic ([`JobError::Panicked`](crate::JobError::Panicked)),
    /// time out and be cancelled, and a retry policy still retries those. A body that can
    /// fail belongs in [`Job::new`]; one whose value is a `Result` may use either (here the
    /// `Result` is the value, and an `Err` is not a failure).
    ///
    /// Named after [`std::convert::Infallible`], the error type such a body would otherwise
    /// have to spell out (and its marker here, as in `Job<Async<F, Infallible>>`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::infallible(|ctx| async move { ctx.attempt() * 42 })).await.unwrap();
    /// assert_eq!(h.await.unwrap(), 42);
    /// # }
    /// ```
    pub fn infallible<Fut, T>(f: F) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Job { run: Async(f, PhantomData), options: JobOptions::default() }
    }
}

impl<F> Job<Once<F>> {
    /// An async job whose body runs once: `f` is an `FnOnce`, so it may move what it
    /// captured into its future (`move |_| async move { consume(data) }`) without cloning
    /// it first. It returns a future of `Result<T, E>`, as for [`Job::new`].
    ///
    /// A run-once job is **never retried**: it has one attempt, and a retry policy (its own
    /// [`retry`](Job::retry) or the pool's [`default_retry`](crate::PoolBuilder::default_retry))
    /// does not apply to it — the outcome of that attempt (its value, error, panic, timeout or
    /// cancellation) is the job's. Use [`Job::new`] for a job that should be retried.
    /// Unlike [`Job::new`]'s closure, `f` need not be `Sync`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let lines = vec![String::from("a,1"), String::from("b,2")];
    /// // `lines` moves into the future: no clone, as the body runs only once.
    /// let job = Job::once(move |_ctx| async move {
    ///     let parsed: Result<Vec<u32>, std::num::ParseIntError> =
    ///         lines.into_iter().map(|l| l[2..].parse()).collect();
    ///     parsed
    /// });
    /// assert_eq!(pool.submit(job).await.unwrap().await.unwrap(), [1, 2]);
    /// # }
    /// ```
    pub fn once<Fut, T, E>(f: F) -> Self
    where
        F: FnOnce(JobContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        Job { run: Once(parking_lot::Mutex::new(Some(f)), PhantomData), options: JobOptions::default() }
    }
}

impl<F> Job<Once<F, Infallible>> {
    /// An async job whose body runs once and cannot fail: [`Job::once`] (an `FnOnce`, never
    /// retried) with [`Job::infallible`]'s body (its future's output is the value).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let words = vec![String::from("no"), String::from("clone")];
    /// let job = Job::once_infallible(move |_ctx| async move { words.join(" ") });
    /// assert_eq!(pool.submit(job).await.unwrap().await.unwrap(), "no clone");
    /// # }
    /// ```
    pub fn once_infallible<Fut, T>(f: F) -> Self
    where
        F: FnOnce(JobContext) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Job { run: Once(parking_lot::Mutex::new(Some(f)), PhantomData), options: JobOptions::default() }
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
        Job { run: Blocking(Arc::new(f), None, PhantomData), options: JobOptions::default() }
    }
}

impl<F> Job<Blocking<F, Infallible>> {
    /// A blocking job that cannot fail: [`Job::blocking`] (on tokio's blocking threads, once
    /// per attempt) whose closure returns the value itself, with no `Ok::<_, E>(…)` around
    /// it. It can still panic, time out and be cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::blocking_infallible(|_| (1..=10u64).sum::<u64>())).await.unwrap();
    /// assert_eq!(h.await.unwrap(), 55);
    /// # }
    /// ```
    pub fn blocking_infallible<T>(f: F) -> Self
    where
        F: Fn(JobContext) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Job { run: Blocking(Arc::new(f), None, PhantomData), options: JobOptions::default() }
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

    /// Takes the job's rate limit from key `key` rather than from its
    /// [`concurrency_key`](Self::concurrency_key), so that one job can obey a concurrency
    /// limit on one key (say `db`) and a rate limit on another (say `api`).
    ///
    /// Without a rate key, the concurrency key carries both limits, as before. With one:
    /// - `key`'s rate limit ([`PoolBuilder::rate_limit`](crate::PoolBuilder::rate_limit)) and
    ///   pause apply; its concurrency limit does not (the job does not count as running
    ///   under `key`);
    /// - the concurrency key's concurrency limit and pause apply; its rate limit does not.
    ///
    /// The job first waits for a rate token of `key`, then for a slot of its concurrency key
    /// (so it never holds a slot while waiting for a token). Either wait holds no worker. A
    /// token taken by a job that is then cancelled while waiting for its slot is not given
    /// back. Each attempt (a retry too) takes a new token. A rate key equal to the
    /// concurrency key changes nothing. Default: no rate key.
    ///
    /// # Examples
    ///
    /// A job that calls a rate-limited API, then writes to a database that takes one writer:
    ///
    /// ```
    /// use std::time::Duration;
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder()
    ///     .workers(4)
    ///     .concurrency_limit("db", 1)
    ///     .rate_limit("api", 10, Duration::from_secs(1))
    ///     .build();
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) }).concurrency_key("db").rate_key("api");
    /// pool.submit(job).await.unwrap().await.unwrap();
    /// # }
    /// ```
    pub fn rate_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.options.rate_key = Some(key.into());
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
