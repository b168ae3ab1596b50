//! [`JobHandle`]: await a job's result, see its status, cancel it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::futures::Notified;

use crate::cell::ResultSlot;
use crate::context::HasCore;
use crate::core::{Core, JobId, StartCheck, State};
use crate::error::JobError;

/// Where a job is in its life.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, JobStatus, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
/// assert_eq!(h.status(), JobStatus::Queued); // no worker has run yet on this thread
/// pool.join().await;
/// assert_eq!(h.status(), JobStatus::Finished);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// Waiting for its delay or `not_before` time (holding no worker, not yet in the queue).
    Scheduled,
    /// Waiting in the queue for a worker.
    Queued,
    /// Waiting out the delay before its next attempt (holding no worker).
    Retrying,
    /// An attempt is running on a worker.
    Running,
    /// Resolved: the handle has (or had) its result.
    Finished,
}

/// A handle to a submitted job: a future of its result, plus [`id`](Self::id),
/// [`status`](Self::status) and [`cancel`](Self::cancel).
///
/// **Dropping a handle detaches the job**: it still runs to its end, like tokio's
/// `JoinHandle` (use [`cancel`](Self::cancel) first to stop it).
///
/// # Cancel safety
///
/// Awaiting a handle is cancel safe: dropping the `.await` (say, in `select!`) loses nothing,
/// and the handle can be awaited again.
///
/// # Panics
///
/// Polling a handle again after it returned its result panics.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, JobError, Pool};
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build();
/// let h = pool
///     .submit(Job::new(|_| async {
///         tokio::time::sleep(Duration::from_secs(3600)).await;
///         Ok::<_, std::io::Error>(())
///     }))
///     .await
///     .unwrap();
/// h.cancel();
/// assert!(matches!(h.await, Err(JobError::Cancelled)));
/// # }
/// ```
#[must_use = "dropping a JobHandle detaches the job; await it to get the result"]
pub struct JobHandle<T> {
    job: Arc<dyn ResultSlot<T>>,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(job: Arc<dyn ResultSlot<T>>) -> Self {
        JobHandle { job }
    }

    /// The job's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// println!("submitted job {}", h.id());
    /// # }
    /// ```
    pub fn id(&self) -> JobId {
        self.job.core().id()
    }

    /// The job's current status.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, JobStatus, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// assert_ne!(h.status(), JobStatus::Finished);
    /// h.await.unwrap();
    /// # }
    /// ```
    pub fn status(&self) -> JobStatus {
        status_of(self.job.core().state())
    }

    /// Whether the job has resolved (the handle will be ready when polled).
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// pool.join().await;
    /// assert!(h.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.job.is_ready()
    }

    /// Cancels the job.
    ///
    /// - Queued: it is taken out of the queue and never starts.
    /// - Waiting to retry: it does not run again.
    /// - Running: its [`JobContext::cancelled`](crate::JobContext::cancelled) fires and it may
    ///   clean up; after the pool's grace period its future is dropped (at once if it never
    ///   watched its signal). A shielded job runs on.
    /// - Finished: nothing happens.
    ///
    /// Either way the handle resolves to [`JobError::Cancelled`] unless the job had already
    /// finished (or is shielded and running). Returns `true` if this call was the first
    /// cancel request of an unfinished job.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, JobError, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(1) })).await.unwrap();
    /// assert!(h.cancel());
    /// assert!(!h.cancel()); // already requested
    /// assert!(matches!(h.await, Err(JobError::Cancelled)));
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        let core = self.job.core();
        core.pool.cancel(core)
    }

    /// Waits until the job's first attempt has started — "this job is running" — without
    /// taking its result: the handle can still be awaited for that. Resolves at once if the
    /// job already started, even if it has finished since.
    ///
    /// Waiting costs the job nothing unless someone waits: a job nobody calls this for is
    /// not notified of its start.
    ///
    /// # Errors
    ///
    /// If the job resolves without ever starting, the error it resolves with (and which
    /// awaiting the handle returns too): [`JobError::Cancelled`] (cancelled while queued,
    /// scheduled, or waiting for a limit) or [`JobError::Shutdown`] (the pool shut down
    /// first). No other error: a job that started made this `Ok`, whatever its outcome.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future (say, in `select!`) loses nothing, and calling
    /// `started` again waits for the same start.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobError, Pool};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).build();
    /// let long = || {
    ///     Job::new(|ctx| async move {
    ///         ctx.cancelled().await;
    ///         // clean up …
    ///         Ok::<_, std::io::Error>(())
    ///     })
    /// };
    /// let first = pool.submit(long()).await.unwrap();
    /// let second = pool.submit(long()).await.unwrap(); // waits for the only worker
    ///
    /// first.started().await.unwrap(); // it is running now
    /// second.cancel(); // still queued: it never starts
    /// assert!(matches!(second.started().await, Err(JobError::Cancelled)));
    ///
    /// first.cancel(); // it started, so it gets to clean up
    /// assert!(matches!(first.await, Err(JobError::Cancelled)));
    /// assert!(matches!(second.await, Err(JobError::Cancelled)));
    /// # }
    /// ```
    pub fn started(&self) -> Started<'_> {
        Started::new(self.job.core())
    }

    /// A cloneable handle that can only cancel the job, for when the `JobHandle` itself has
    /// moved into another future (a `FuturesUnordered`, `try_join_all`, a spawned task) —
    /// like tokio's `AbortHandle`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobError, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// let canceller = h.cancel_handle();
    /// let waiter = tokio::spawn(h); // the handle moves away
    /// canceller.cancel();
    /// assert!(matches!(waiter.await.unwrap(), Err(JobError::Cancelled)));
    /// # }
    /// ```
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { job: self.job.clone() }
    }
}

/// Cancels one job; from [`JobHandle::cancel_handle`]. Cheap to clone; dropping it does
/// nothing.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
/// let c = h.cancel_handle();
/// assert_eq!(c.id(), h.id());
/// # }
/// ```
#[derive(Clone)]
pub struct CancelHandle {
    job: Arc<dyn HasCore>,
}

impl CancelHandle {
    /// Cancels the job, exactly as [`JobHandle::cancel`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// assert!(h.cancel_handle().cancel());
    /// assert!(h.await.unwrap_err().is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        let core = self.job.core();
        core.pool.cancel(core)
    }

    /// The job's id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// println!("can cancel job {}", h.cancel_handle().id());
    /// # }
    /// ```
    pub fn id(&self) -> JobId {
        self.job.core().id()
    }

    /// Whether the job has resolved.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// let c = h.cancel_handle();
    /// h.await.unwrap();
    /// assert!(c.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.job.core().state() == State::Finished
    }

    /// Waits until the job's first attempt has started, exactly as [`JobHandle::started`]
    /// does — for when the `JobHandle` itself is being awaited elsewhere.
    ///
    /// # Errors
    ///
    /// As [`JobHandle::started`]: [`JobError::Cancelled`] or [`JobError::Shutdown`] if the
    /// job resolves without ever starting.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`JobHandle::started`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(7) })).await.unwrap();
    /// let c = h.cancel_handle();
    /// let result = tokio::spawn(h); // the handle moves away
    /// c.started().await.unwrap();
    /// assert_eq!(result.await.unwrap().unwrap(), 7);
    /// # }
    /// ```
    pub fn started(&self) -> Started<'_> {
        Started::new(self.job.core())
    }

    /// The job's current status, as [`JobHandle::status`] tells it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use conveyor_pool::{Job, JobStatus, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
    /// let c = h.cancel_handle();
    /// assert_eq!(c.status(), JobStatus::Queued);
    /// h.await.unwrap();
    /// assert_eq!(c.status(), JobStatus::Finished);
    /// # }
    /// ```
    pub fn status(&self) -> JobStatus {
        status_of(self.job.core().state())
    }
}

fn status_of(state: State) -> JobStatus {
    match state {
        State::Scheduled => JobStatus::Scheduled,
        State::Queued => JobStatus::Queued,
        State::Retrying => JobStatus::Retrying,
        State::Running => JobStatus::Running,
        State::Finished => JobStatus::Finished,
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle").field("id", &self.id()).finish()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nobody else holds the job (its worker let go after delivering the outcome, and no
        // cancel handle or context is left): the result is taken without locking.
        if let Some(result) = Arc::get_mut(&mut self.job).and_then(|job| job.take_owned()) {
            return Poll::Ready(result);
        }
        self.job.poll_result(cx)
    }
}

impl<T> Unpin for JobHandle<T> {}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").field("id", &self.id()).field("status", &self.status()).finish()
    }
}

/// Future of [`JobHandle::started`] and [`CancelHandle::started`]: resolves once the job's
/// first attempt has started, or with the job's error if it resolves without starting.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool, Started};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// let h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).await.unwrap();
/// let started: Started<'_> = h.started();
/// started.await.unwrap();
/// h.await.unwrap();
/// # }
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Started<'a> {
    core: &'a Core,
    /// Made at the first poll that has to wait: a started job's future allocates nothing.
    /// Boxed so that the future is `Unpin` (the notification is not).
    notified: Option<Pin<Box<Notified<'a>>>>,
}

impl<'a> Started<'a> {
    fn new(core: &'a Core) -> Self {
        Started { core, notified: None }
    }
}

impl Future for Started<'_> {
    type Output = Result<(), JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let core = this.core;
        if core.attempts.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return Poll::Ready(Ok(()));
        }
        let notified = this.notified.get_or_insert_with(|| Box::pin(core.signal().notified()));
        loop {
            // Registered before the look: a start right after it still wakes this task.
            notified.as_mut().enable();
            match core.check_started() {
                StartCheck::Started => return Poll::Ready(Ok(())),
                StartCheck::Unstarted(err) => return Poll::Ready(Err(err)),
                StartCheck::Busy => {
                    // The worker is a few instructions away from recording the start (or
                    // the refusal): look again on the next turn instead of waiting for a
                    // notification that may already have been decided against.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                StartCheck::Waiting => {}
            }
            match notified.as_mut().poll(cx) {
                // Woken (by the start, or by another signal of the job): look again.
                Poll::Ready(()) => notified.set(core.signal().notified()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl fmt::Debug for Started<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started").field("id", &self.core.id()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Job, Pool};

    /// Once the worker let go of a finished job, its handle holds the only reference and
    /// takes the result without the slot's lock; the result is still taken once.
    #[tokio::test(flavor = "current_thread")]
    async fn a_handle_alone_takes_its_result_once() {
        let pool = Pool::builder().workers(1).build();
        let mut h = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(5) })).await.unwrap();
        pool.join().await;
        let job = Arc::get_mut(&mut h.job).expect("the worker let go of the finished job");
        assert!(matches!(job.take_owned(), Some(Ok(5))));
        assert!(job.take_owned().is_none(), "taken once");
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let waker = std::task::Waker::noop();
            std::pin::Pin::new(&mut h).poll(&mut std::task::Context::from_waker(waker))
        }));
        assert!(again.is_err(), "polling after the result was taken panics, as documented");
    }

    /// A job's signal is made by its first waiter only (see "Lazy signal" in `core.rs`): a
    /// job nobody waits for never allocates it, and a `started()` that waits before the start
    /// makes it and is woken by the start.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_signal_is_made_by_a_waiter_and_wakes_it() {
        use tokio_test::{assert_pending, assert_ready_ok};

        let pool = Pool::builder().workers(1).build();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = gate.clone();
        let blocker = pool
            .submit(Job::new(move |_| {
                let held = held.clone();
                async move {
                    let _permit = held.acquire().await;
                    Ok::<_, std::io::Error>(0)
                }
            }))
            .await
            .unwrap();
        // A lost wake-up fails here instead of hanging: the paused clock jumps to the limit
        // once nothing else can run.
        tokio::time::timeout(std::time::Duration::from_secs(60), blocker.started())
            .await
            .expect("the start of the blocker woke its waiter")
            .unwrap();
        // The one worker is busy: neither job below can start until the blocker ends.
        let watched = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(1) })).await.unwrap();
        let alone = pool.submit(Job::new(|_| async { Ok::<_, std::io::Error>(2) })).await.unwrap();
        assert!(!watched.job.core().has_signal(), "no waiter yet");
        let mut started = tokio_test::task::spawn(watched.started());
        assert_pending!(started.poll());
        assert!(watched.job.core().has_signal(), "the waiter made the signal");
        gate.add_permits(1);
        pool.join().await;
        assert!(started.is_woken(), "the start woke the waiter");
        assert_ready_ok!(started.poll());
        assert!(!alone.job.core().has_signal(), "a job nobody waits for has no signal");
        drop(started);
        assert_eq!((blocker.await.unwrap(), watched.await.unwrap(), alone.await.unwrap()), (0, 1, 2));
    }
}
