//! What a running attempt knows about itself, and how it learns it should stop.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::core::Core;

/// Access to a job's shared state from an attempt, whatever the job's result type.
pub(crate) trait HasCore: Send + Sync {
    fn core(&self) -> &Core;
}

/// Handed to every attempt of a job: its id, attempt number, the worker running it, and its
/// cancellation signal (as a future, [`cancelled`](Self::cancelled), or as a tokio-util
/// [`CancellationToken`], [`cancellation_token`](Self::cancellation_token)).
///
/// [`cancelled`](Self::cancelled) fires when the attempt should stop: the job was cancelled,
/// the attempt ran past its timeout, or the pool is shutting down and cancelling work. The
/// job may then clean up (like catching `asyncio.CancelledError`); after the pool's grace
/// period its future is dropped.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, JobContext};
///
/// async fn save(ctx: JobContext) -> Result<&'static str, std::io::Error> {
///     tokio::select! {
///         _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => Ok("saved"),
///         _ = ctx.cancelled() => {
///             // roll back, close connections, …
///             Ok("rolled back")
///         }
///     }
/// }
/// let job = Job::new(save);
/// # let _ = job;
/// ```
#[derive(Clone)]
pub struct JobContext {
    pub(crate) job: Arc<dyn HasCore>,
    pub(crate) attempt: u32,
    /// The index of the worker running the attempt (a `u32`: beside `attempt` it keeps the
    /// context, which every attempt's future holds, at 24 bytes).
    pub(crate) worker: u32,
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.job.core();
        f.debug_struct("JobContext")
            .field("id", &core.id())
            .field("name", &core.name())
            .field("attempt", &self.attempt)
            .field("worker", &self.worker)
            .finish()
    }
}

impl JobContext {
    /// The job's id.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|ctx| async move { Ok::<_, std::io::Error>(ctx.id()) })).await.unwrap();
    /// let id = h.id();
    /// assert_eq!(h.await.unwrap(), id);
    /// # }
    /// ```
    pub fn id(&self) -> crate::JobId {
        self.job.core().id()
    }

    /// The job's name, if it has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let job = Job::new(|ctx| async move { Ok::<_, std::io::Error>(ctx.name().map(String::from)) }).name("n");
    /// assert_eq!(pool.submit(job).await.unwrap().await.unwrap().as_deref(), Some("n"));
    /// # }
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.job.core().name().map(|n| &**n)
    }

    /// This attempt's number, starting at 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool.submit(Job::new(|ctx| async move { Ok::<_, std::io::Error>(ctx.attempt()) })).await.unwrap();
    /// assert_eq!(h.await.unwrap(), 1);
    /// # }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The index of the pool worker running this attempt, from 0 to
    /// [`Pool::workers`](crate::Pool::workers)` - 1` — the asyncio worker pool's
    /// `worker {n}`. Each attempt of a job may run on a different worker.
    ///
    /// A blocking job ([`Job::blocking`](crate::Job::blocking)) runs on one of tokio's
    /// blocking threads; its index is that of the pool worker that handed it over and waits
    /// for it (and runs nothing else meanwhile), not of the thread. Workers are tasks, not
    /// threads: on a multi-thread runtime one worker's attempts may run on different threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(3).build();
    /// let h = pool
    ///     .submit(Job::infallible(|ctx| async move {
    ///         println!("worker {} runs job {}", ctx.worker(), ctx.id());
    ///         ctx.worker()
    ///     }))
    ///     .await
    ///     .unwrap();
    /// assert!(h.await.unwrap() < 3);
    /// # }
    /// ```
    pub fn worker(&self) -> usize {
        self.worker as usize
    }

    /// The job's [tag](crate::Job::tag), if it has one: an attempt can read what its
    /// submitter attached without holding a reference of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use conveyor_pool::{Job, JobContext, Pool};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pool = Pool::builder().workers(1).build();
    /// let job = Job::new(|ctx: JobContext| async move {
    ///     let url = ctx.tag().and_then(|t| t.downcast_ref::<String>()).cloned();
    ///     Ok::<_, std::io::Error>(url)
    /// })
    /// .tag(Arc::new(String::from("https://example.com")));
    /// let url = pool.submit(job).await.unwrap().await.unwrap();
    /// assert_eq!(url.as_deref(), Some("https://example.com"));
    /// # }
    /// ```
    pub fn tag(&self) -> Option<&crate::Tag> {
        self.job.core().tag()
    }

    /// Whether this attempt has been told to stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Job;
    /// let job = Job::blocking(|ctx| {
    ///     for chunk in 0..1_000 {
    ///         if ctx.is_cancelled() {
    ///             return Err(format!("stopped at chunk {chunk}"));
    ///         }
    ///         // work on the chunk …
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = job;
    /// ```
    pub fn is_cancelled(&self) -> bool {
        let core = self.job.core();
        core.watch(self.attempt);
        core.should_stop(&core.pool, self.attempt)
    }

    /// Resolves when this attempt has been told to stop (job cancelled, attempt timed out, or
    /// the pool cancelling its work); at once if it already has.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it loses nothing, a new call sees the same signal.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobError, Pool};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool
    ///     .submit(Job::new(|ctx| async move {
    ///         ctx.cancelled().await;
    ///         Ok::<_, std::io::Error>(())
    ///     }).timeout(Duration::from_secs(1)))
    ///     .await
    ///     .unwrap();
    /// assert!(matches!(h.await, Err(JobError::TimedOut)));
    /// # }
    /// ```
    pub async fn cancelled(&self) {
        let core = self.job.core();
        core.watch(self.attempt);
        core.stopped(&core.pool, self.attempt).await
    }

    /// A tokio-util [`CancellationToken`] that is cancelled when this attempt is told to stop,
    /// exactly when [`cancelled`](Self::cancelled) fires (job cancelled, attempt timed out,
    /// pool cancelling its work; never for a shielded job once started), to hand to libraries
    /// that take one.
    ///
    /// The token only listens: **cancelling it yourself does not cancel the job** (a library
    /// cancelling a token it was lent must not stop the job; to stop it, return from the
    /// attempt or [`cancel`](crate::JobHandle::cancel) its handle). Like
    /// [`cancelled`](Self::cancelled), calling this tells the pool the attempt watches its
    /// signal, so a cancelled attempt gets the grace period to clean up.
    ///
    /// The token is made when called: an attempt that never calls this pays nothing. Each
    /// call makes a new token and a small task on the pool's runtime that cancels it; the
    /// task ends when the signal fires, when the token is cancelled, or when the attempt
    /// ends — whichever is first — so nothing outlives the attempt. (Call it once per attempt
    /// and clone the token rather than calling it again.)
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, JobError, Pool};
    /// use std::time::Duration;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// // A library function that takes a token.
    /// async fn download(token: CancellationToken) -> Result<(), &'static str> {
    ///     tokio::select! {
    ///         _ = tokio::time::sleep(Duration::from_secs(3600)) => Ok(()),
    ///         _ = token.cancelled() => Err("download aborted"),
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// let h = pool
    ///     .submit(Job::new(|ctx| download(ctx.cancellation_token())).timeout(Duration::from_secs(5)))
    ///     .await
    ///     .unwrap();
    /// assert!(matches!(h.await, Err(JobError::TimedOut)));
    /// # }
    /// ```
    pub fn cancellation_token(&self) -> CancellationToken {
        let core = self.job.core();
        let token = CancellationToken::new();
        // Watched now, not when the helper first runs: a cancel meanwhile still gets the grace.
        core.watch(self.attempt);
        core.watch_attempt_end();
        let (job, attempt, tripwire) = (self.job.clone(), self.attempt, token.clone());
        core.pool.rt.spawn(async move {
            let core = job.core();
            tokio::select! {
                // The signal first: an attempt told to stop cancels its token even if it
                // ended in the meantime (a library may still hold the token).
                biased;
                _ = core.stopped(&core.pool, attempt) => tripwire.cancel(),
                _ = tripwire.cancelled() => {}
                _ = core.attempt_ended(attempt) => {}
            }
        });
        token
    }
}
