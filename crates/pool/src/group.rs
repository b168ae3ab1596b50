//! [`JobSet`]: a group of jobs awaited together — asyncio's `gather`, `as_completed` and
//! `wait(return_when=FIRST_COMPLETED | FIRST_EXCEPTION | ALL_COMPLETED)`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::core::JobId;
use crate::error::{JobError, SubmitError};
use crate::handle::{CancelHandle, JobHandle};
use crate::job::{Job, Run};
use crate::pool::Pool;

/// What dropping a [`JobSet`] does to the jobs it has not yet returned.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{JobSet, OnDrop, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let set: JobSet<()> = JobSet::new(&pool).on_drop(OnDrop::Detach);
/// # let _ = set;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnDrop {
    /// Cancel them (the default, like tokio's `JoinSet`): a group that nobody awaits any
    /// more has no one to report to.
    Cancel,
    /// Let them run on, like dropped [`JobHandle`]s.
    Detach,
}

/// One job of the set: its handle, tagged with its submit index.
struct Member<T> {
    index: usize,
    handle: JobHandle<T>,
}

impl<T> Future for Member<T> {
    type Output = (usize, JobId, Result<T, JobError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        let id = self.handle.id();
        Pin::new(&mut self.handle).poll(cx).map(|r| (index, id, r))
    }
}

/// The error of [`JobSet::fail_fast`]: the first failure, and the jobs cancelled because of
/// it.
///
/// `Display` names the job, says what happened with the job's own message (as
/// [`JobError`]'s does) and counts the jobs cancelled: `job 3 failed: disk on fire; 2 other
/// jobs cancelled`. As for [`JobError`], [`source`](std::error::Error::source) goes on
/// after what `Display` shows (the job error's own cause, if any), so anyhow's `{:#}` prints
/// each message once; the failure itself is the [`error`](FailFast::error) field.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, JobSet, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let mut set = JobSet::new(&pool);
/// let id = set.submit(Job::new(|_| async { Err::<(), _>("disk on fire") })).await.unwrap();
/// let err = set.fail_fast().await.unwrap_err();
/// assert_eq!(err.failed, id);
/// assert_eq!(err.to_string(), format!("job {id} failed: disk on fire; 0 other jobs cancelled"));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct FailFast {
    /// The job that failed first.
    pub failed: JobId,
    /// Its error.
    pub error: JobError,
    /// The jobs that were still unfinished and were cancelled (their cleanup has run).
    pub cancelled: Vec<JobId>,
}

impl fmt::Display for FailFast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.describe(&format_args!("job {}", self.failed), f)?;
        let n = self.cancelled.len();
        let jobs = if n == 1 { "job" } else { "jobs" };
        write!(f, "; {n} other {jobs} cancelled")
    }
}

impl std::error::Error for FailFast {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.next_source()
    }
}

/// A group of jobs submitted through it and awaited together: all results in submit order
/// ([`join_all`](Self::join_all), like `asyncio.gather`), as they complete
/// ([`join_next`](Self::join_next) or the set as a [`Stream`], like `as_completed`), the first
/// success ([`race`](Self::race)), or all unless one fails ([`fail_fast`](Self::fail_fast),
/// like `wait(FIRST_EXCEPTION)`).
///
/// A set is not a pool of its own: its jobs are ordinary jobs of the [`Pool`] it was made
/// with, queued by priority with every other job of that pool and run by **the pool's
/// workers**, under the pool's limits. A set of 1,000 jobs on a pool of 8 workers runs 8 at
/// a time, and shares those 8 with whatever else the pool runs. For a separate budget, give
/// the set its own pool, or put its jobs under a
/// [`concurrency_key`](crate::Job::concurrency_key).
///
/// It costs a few words per job (a handle and a canceller), so it holds 100k jobs easily.
/// **Dropping it cancels** the jobs it has not returned yet, unless built with
/// [`OnDrop::Detach`].
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, JobSet, Pool};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pool = Pool::builder().workers(3).build();
/// let mut set = JobSet::new(&pool);
/// for (name, secs) in [("slow", 3), ("fast", 1), ("medium", 2)] {
///     set.submit(Job::new(move |_| async move {
///         tokio::time::sleep(Duration::from_secs(secs)).await;
///         Ok::<_, std::io::Error>(name)
///     }))
///     .await
///     .unwrap();
/// }
/// let results: Vec<_> = set.join_all().await.into_iter().map(Result::unwrap).collect();
/// assert_eq!(results, ["slow", "fast", "medium"]); // submit order
/// # }
/// ```
pub struct JobSet<T> {
    pool: Pool,
    running: FuturesUnordered<Member<T>>,
    cancellers: Vec<Option<CancelHandle>>,
    on_drop: OnDrop,
}

impl<T> fmt::Debug for JobSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSet")
            .field("submitted", &self.cancellers.len())
            .field("pending", &self.running.len())
            .field("on_drop", &self.on_drop)
            .finish()
    }
}

impl<T: Send + 'static> JobSet<T> {
    /// An empty set submitting to `pool`: its jobs run on that pool's workers, alongside the
    /// pool's other jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let set: JobSet<u32> = JobSet::new(&pool);
    /// assert!(set.is_empty());
    /// # }
    /// ```
    pub fn new(pool: &Pool) -> Self {
        JobSet {
            pool: pool.clone(),
            running: FuturesUnordered::new(),
            cancellers: Vec::new(),
            on_drop: OnDrop::Cancel,
        }
    }

    /// Chooses what dropping the set does to its unfinished jobs. Default: [`OnDrop::Cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, OnDrop, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let mut set = JobSet::new(&pool).on_drop(OnDrop::Detach);
    /// set.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// drop(set); // the job runs on
    /// pool.join().await;
    /// # }
    /// ```
    #[must_use]
    pub fn on_drop(mut self, on_drop: OnDrop) -> Self {
        self.on_drop = on_drop;
        self
    }

    fn add(&mut self, handle: JobHandle<T>) -> JobId {
        let id = handle.id();
        self.cancellers.push(Some(handle.cancel_handle()));
        self.running.push(Member { index: self.cancellers.len() - 1, handle });
        id
    }

    /// Submits a job to the pool as a member of the set, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`SubmitError`] (with the job) once the pool is shutting down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Pool::submit`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let mut set = JobSet::new(&pool);
    /// let id = set.submit(Job::new(|_| async { Ok::<_, std::io::Error>(1) })).await.unwrap();
    /// assert_eq!(set.join_next().await.unwrap().0, id);
    /// # }
    /// ```
    pub async fn submit<R: Run<T>>(&mut self, job: Job<R>) -> Result<JobId, SubmitError<Job<R>>> {
        let handle = self.pool.submit(job).await?;
        Ok(self.add(handle))
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
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let mut set = JobSet::new(&pool);
    /// set.try_submit(Job::new(|_| async { Ok::<_, std::io::Error>(1) })).unwrap();
    /// assert_eq!(set.len(), 1);
    /// # }
    /// ```
    pub fn try_submit<R: Run<T>>(&mut self, job: Job<R>) -> Result<JobId, SubmitError<Job<R>>> {
        let handle = self.pool.try_submit(job)?;
        Ok(self.add(handle))
    }

    /// Adds an already submitted job (its handle) to the set.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(5) })).await.unwrap();
    /// let mut set = JobSet::new(&pool);
    /// set.insert(h);
    /// assert_eq!(set.join_next().await.unwrap().1.unwrap(), 5);
    /// # }
    /// ```
    pub fn insert(&mut self, handle: JobHandle<T>) -> JobId {
        self.add(handle)
    }

    /// Jobs submitted through the set that it has not returned yet.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let set: JobSet<()> = JobSet::new(&pool);
    /// assert_eq!(set.len(), 0);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether every job has been returned (or none submitted).
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// assert!(JobSet::<()>::new(&pool).is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Waits for the next job to finish, in completion order (`as_completed`); `None` when
    /// the set is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a result is taken out only when this completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(2).build();
    /// let mut set = JobSet::new(&pool);
    /// for secs in [2u64, 1] {
    ///     set.submit(Job::new(move |_| async move {
    ///         tokio::time::sleep(Duration::from_secs(secs)).await;
    ///         Ok::<_, std::io::Error>(secs)
    ///     }))
    ///     .await
    ///     .unwrap();
    /// }
    /// assert_eq!(set.join_next().await.unwrap().1.unwrap(), 1);
    /// assert_eq!(set.join_next().await.unwrap().1.unwrap(), 2);
    /// assert!(set.join_next().await.is_none());
    /// # }
    /// ```
    pub async fn join_next(&mut self) -> Option<(JobId, Result<T, JobError>)> {
        let (index, id, result) = self.running.next().await?;
        self.cancellers[index] = None;
        Some((id, result))
    }

    /// Waits for every job; results in submit order (`asyncio.gather(...,
    /// return_exceptions=True)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let mut set = JobSet::new(&pool);
    /// for n in 1..=3u32 {
    ///     set.submit(Job::new(move |_| async move { Ok::<_, std::io::Error>(n * 10) })).await.unwrap();
    /// }
    /// let all: Vec<u32> = set.join_all().await.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(all, [10, 20, 30]);
    /// # }
    /// ```
    pub async fn join_all(mut self) -> Vec<Result<T, JobError>> {
        let mut results: Vec<Option<Result<T, JobError>>> = Vec::new();
        results.resize_with(self.cancellers.len(), || None);
        while let Some((index, _, result)) = self.running.next().await {
            self.cancellers[index] = None;
            results[index] = Some(result);
        }
        // Jobs returned earlier by `join_next` have no slot left: report them as absent by
        // skipping them (their results went to the caller already).
        results.into_iter().flatten().collect()
    }

    /// Cancels every job the set has not returned yet; their results (mostly
    /// `Err(Cancelled)`) still come through `join_next`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let mut set = JobSet::new(&pool);
    /// set.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// set.cancel_all();
    /// assert!(set.join_next().await.unwrap().1.unwrap_err().is_cancelled());
    /// # }
    /// ```
    pub fn cancel_all(&self) -> Vec<JobId> {
        let mut cancelled = Vec::new();
        for c in self.cancellers.iter().flatten() {
            if c.cancel() {
                cancelled.push(c.id());
            }
        }
        cancelled
    }

    /// Cancels the rest and waits until they have resolved (their cleanup has run).
    async fn cancel_rest(&mut self) -> Vec<JobId> {
        let cancelled = self.cancel_all();
        while let Some((index, _, _)) = self.running.next().await {
            self.cancellers[index] = None;
        }
        cancelled
    }

    /// Returns the first success and cancels the other jobs, waiting for their cleanup: for
    /// asking several equal sources and taking the fastest answer. Like asyncio's
    /// `wait(return_when=FIRST_COMPLETED)` followed by cancelling the rest, except that a
    /// failure does not win: the race goes on with the jobs still running.
    ///
    /// # Errors
    ///
    /// Every job's error in submit order, when none succeeded (an empty set gives an empty
    /// list). Each prints with its job's own message (see [`JobError`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(3).build();
    /// let mut set = JobSet::new(&pool);
    /// for (mirror, ms) in [("eu", 300), ("us", 100), ("asia", 200)] {
    ///     set.submit(Job::new(move |_| async move {
    ///         tokio::time::sleep(Duration::from_millis(ms)).await;
    ///         Ok::<_, std::io::Error>(mirror)
    ///     }))
    ///     .await
    ///     .unwrap();
    /// }
    /// assert_eq!(set.race().await.unwrap(), "us");
    /// # }
    /// ```
    pub async fn race(mut self) -> Result<T, Vec<JobError>> {
        let mut errors: Vec<(usize, JobError)> = Vec::new();
        while let Some((index, _, result)) = self.running.next().await {
            self.cancellers[index] = None;
            match result {
                Ok(value) => {
                    self.cancel_rest().await;
                    return Ok(value);
                }
                Err(e) => errors.push((index, e)),
            }
        }
        errors.sort_by_key(|(index, _)| *index);
        Err(errors.into_iter().map(|(_, e)| e).collect())
    }

    /// Waits for every job unless one fails: then cancels the rest (waiting for their
    /// cleanup) and returns that failure. Results in submit order.
    ///
    /// # Errors
    ///
    /// [`FailFast`]: the first failure and the jobs cancelled because of it.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobSet, Pool};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(3).build();
    /// let mut set = JobSet::new(&pool);
    /// for n in 0..3u64 {
    ///     set.submit(Job::new(move |ctx| async move {
    ///         if n == 1 {
    ///             return Err("disk on fire");
    ///         }
    ///         tokio::select! {
    ///             _ = tokio::time::sleep(Duration::from_secs(60)) => Ok(n),
    ///             _ = ctx.cancelled() => Err("stopped"),
    ///         }
    ///     }))
    ///     .await
    ///     .unwrap();
    /// }
    /// let err = set.fail_fast().await.unwrap_err();
    /// assert_eq!(err.cancelled.len(), 2);
    /// # }
    /// ```
    pub async fn fail_fast(mut self) -> Result<Vec<T>, FailFast> {
        let mut results: Vec<Option<T>> = Vec::new();
        results.resize_with(self.cancellers.len(), || None);
        while let Some((index, id, result)) = self.running.next().await {
            self.cancellers[index] = None;
            match result {
                Ok(value) => results[index] = Some(value),
                Err(error) => {
                    let cancelled = self.cancel_rest().await;
                    return Err(FailFast { failed: id, error, cancelled });
                }
            }
        }
        Ok(results.into_iter().flatten().collect())
    }
}

impl<T: Send + 'static> Stream for JobSet<T> {
    type Item = (JobId, Result<T, JobError>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.running).poll_next(cx) {
            Poll::Ready(Some((index, id, result))) => {
                self.cancellers[index] = None;
                Poll::Ready(Some((id, result)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for JobSet<T> {
    fn drop(&mut self) {
        if self.on_drop == OnDrop::Cancel {
            for c in self.cancellers.iter().flatten() {
                c.cancel();
            }
        }
    }
}
