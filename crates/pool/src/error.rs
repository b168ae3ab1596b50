//! What can go wrong: a job's final error, and a refused submission.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error, the form in which a job's own error is kept.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a job did not produce a value. Each job resolves exactly once, to a value or to one
/// of these.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, JobError, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().workers(1).build();
/// let handle = pool
///     .submit(Job::new(|_ctx| async { Err::<(), _>("disk full") }))
///     .await
///     .unwrap();
/// let err = handle.await.unwrap_err();
/// assert!(matches!(err, JobError::Failed(_)));
/// assert_eq!(err.to_string(), "job failed");
/// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "disk full");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// The job returned an error on its last attempt.
    Failed(BoxError),
    /// The job panicked (on its last attempt); the message is the panic's payload.
    Panicked(String),
    /// The job's last attempt ran past its timeout.
    TimedOut,
    /// The job was cancelled: through its handle, a group, or the pool's shutdown.
    Cancelled,
    /// The job never ran because the pool shut down first.
    Shutdown,
}

impl JobError {
    /// The outcome this error stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{JobError, Outcome};
    /// assert_eq!(JobError::TimedOut.outcome(), Outcome::TimedOut);
    /// assert_eq!(JobError::Shutdown.outcome(), Outcome::Cancelled);
    /// ```
    pub fn outcome(&self) -> Outcome {
        match self {
            JobError::Failed(_) => Outcome::Failed,
            JobError::Panicked(_) => Outcome::Panicked,
            JobError::TimedOut => Outcome::TimedOut,
            JobError::Cancelled | JobError::Shutdown => Outcome::Cancelled,
        }
    }

    /// Whether this is [`JobError::Cancelled`] or [`JobError::Shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::JobError;
    /// assert!(JobError::Shutdown.is_cancelled());
    /// assert!(!JobError::TimedOut.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JobError::Cancelled | JobError::Shutdown)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Failed(_) => f.write_str("job failed"),
            JobError::Panicked(msg) => write!(f, "job panicked: {msg}"),
            JobError::TimedOut => f.write_str("job timed out"),
            JobError::Cancelled => f.write_str("job cancelled"),
            JobError::Shutdown => f.write_str("job never ran: the pool shut down"),
        }
    }
}

impl StdError for JobError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            JobError::Failed(err) => Some(err.as_ref()),
            _ => None,
        }
    }
}

/// How a job ended: the `outcome` label of the metrics and the ledger.
///
/// # Examples
///
/// ```
/// use conveyor_pool::Outcome;
/// assert_eq!(Outcome::TimedOut.as_str(), "timed_out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The job returned a value.
    Succeeded,
    /// The job returned an error.
    Failed,
    /// The job panicked.
    Panicked,
    /// The job ran past its timeout.
    TimedOut,
    /// The job was cancelled, or never ran because the pool shut down.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [Outcome; 5] =
        [Outcome::Succeeded, Outcome::Failed, Outcome::Panicked, Outcome::TimedOut, Outcome::Cancelled];

    /// The snake_case name used in metrics labels and ledgers.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::Outcome;
    /// assert_eq!(Outcome::Succeeded.as_str(), "succeeded");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Panicked => "panicked",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a submission was refused; the job is handed back.
///
/// # Examples
///
/// ```
/// use conveyor_pool::{Job, Pool};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let pool = Pool::builder().build();
/// pool.shutdown_now().await;
/// let err = pool.try_submit(Job::new(|_| async { Ok::<_, std::io::Error>(()) })).unwrap_err();
/// assert!(err.is_shutdown());
/// let _job_back = err.into_inner();
/// # }
/// ```
pub struct SubmitError<J> {
    kind: SubmitErrorKind,
    job: J,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubmitErrorKind {
    Full,
    Shutdown,
}

impl<J> SubmitError<J> {
    pub(crate) fn full(job: J) -> Self {
        SubmitError { kind: SubmitErrorKind::Full, job }
    }

    pub(crate) fn shutdown(job: J) -> Self {
        SubmitError { kind: SubmitErrorKind::Shutdown, job }
    }

    /// Whether the queue was full (only from `try_submit`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().workers(1).capacity(1).build();
    /// let job = || Job::new(|_| async { Ok::<_, std::io::Error>(()) });
    /// let _queued = pool.try_submit(job()).unwrap();
    /// assert!(pool.try_submit(job()).unwrap_err().is_full());
    /// # }
    /// ```
    pub fn is_full(&self) -> bool {
        self.kind == SubmitErrorKind::Full
    }

    /// Whether the pool is shutting down or shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// pool.shutdown_now().await;
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(()) });
    /// assert!(pool.submit(job).await.unwrap_err().is_shutdown());
    /// # }
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.kind == SubmitErrorKind::Shutdown
    }

    /// The job that was not submitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::{Job, Pool};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = Pool::builder().build();
    /// pool.shutdown_now().await;
    /// let job = Job::new(|_| async { Ok::<_, std::io::Error>(7) }).name("retry me later");
    /// let back = pool.try_submit(job).unwrap_err().into_inner();
    /// // Submit it to another pool instead.
    /// let other = Pool::builder().build();
    /// assert_eq!(other.submit(back).await.unwrap().await.unwrap(), 7);
    /// # }
    /// ```
    pub fn into_inner(self) -> J {
        self.job
    }
}

impl<J> fmt::Debug for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl<J> fmt::Display for SubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SubmitErrorKind::Full => f.write_str("pool queue full"),
            SubmitErrorKind::Shutdown => f.write_str("pool shut down"),
        }
    }
}

impl<J> StdError for SubmitError<J> {}
