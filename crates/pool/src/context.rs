//! What a running attempt knows about itself, and how it learns it should stop.

use std::fmt;
use std::sync::Arc;

use crate::core::Core;

/// Access to a job's shared state from an attempt, whatever the job's result type.
pub(crate) trait HasCore: Send + Sync {
    fn core(&self) -> &Core;
}

/// Handed to every attempt of a job: its id, attempt number, and its cancellation signal.
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
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.job.core();
        f.debug_struct("JobContext")
            .field("id", &core.id)
            .field("name", &core.name)
            .field("attempt", &self.attempt)
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
        self.job.core().id
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
        self.job.core().name.as_deref()
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
        self.job.core().tag.as_ref()
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
}
