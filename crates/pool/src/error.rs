//! What can go wrong: a job's final error, and a refused submission.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error, the form in which a job's own error is kept.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a job did not produce a value. Each job resolves exactly once, to a value or to one
/// of these.
///
/// # What it prints
///
/// `Display` says what happened **and includes the job's own message**: `job failed: disk
/// full` for [`Failed`](JobError::Failed), `job panicked: index out of bounds` for
/// [`Panicked`](JobError::Panicked), so `println!("{e}")`, `e.to_string()` and a log line
/// tell the whole story. This departs on purpose from the usual rule for library errors
/// (the cause only in `source()`, as reqwest's errors do): a job's error is not the cause
/// of a pool's failure, it *is* the content, and a reader of `{e}` should not have to know
/// to walk the chain. tokio's `JoinError` made the same choice for panics ("task 7
/// panicked with message …").
///
/// To keep a chain printer (anyhow's `{:#}`, `eyre`'s reports) from printing the message
/// twice — sqlx's `error returned from database: {0}` with that same `{0}` as its source is
/// the trap — [`source`](StdError::source) skips the error already shown: for `Failed` it is
/// the *job error's own* source, so the chain goes on with the causes that `Display` did
/// not show. The job's error itself is [`get_ref`](JobError::get_ref) (or the `Failed`
/// field), for downcasting.
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
/// assert_eq!(err.to_string(), "job failed: disk full");
/// assert_eq!(err.get_ref().unwrap().to_string(), "disk full");
/// assert!(std::error::Error::source(&err).is_none()); // "disk full" has no cause of its own
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

    /// The job's own error, for a [`Failed`](JobError::Failed) job: the one to downcast. Its
    /// message is already part of this error's `Display`, so [`source`](StdError::source)
    /// does not return it (see [What it prints](JobError#what-it-prints)).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::JobError;
    /// let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
    /// let err = JobError::Failed(Box::new(io));
    /// let io = err.get_ref().and_then(|e| e.downcast_ref::<std::io::Error>()).unwrap();
    /// assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
    /// assert!(JobError::TimedOut.get_ref().is_none());
    /// ```
    pub fn get_ref(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match self {
            JobError::Failed(err) => Some(err.as_ref()),
            _ => None,
        }
    }

    /// The job's own error, by value, for a [`Failed`](JobError::Failed) job; `None` for
    /// the other variants.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_pool::JobError;
    /// let err = JobError::Failed("disk full".into());
    /// assert_eq!(err.into_inner().unwrap().to_string(), "disk full");
    /// assert!(JobError::Cancelled.into_inner().is_none());
    /// ```
    pub fn into_inner(self) -> Option<BoxError> {
        match self {
            JobError::Failed(err) => Some(err),
            _ => None,
        }
    }

    /// Writes what happened to `subject` ("job", "job 3"), with the job's own message: the
    /// text of [`JobError`]'s `Display`, shared with the group errors.
    pub(crate) fn describe(&self, subject: &dyn fmt::Display, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Failed(err) => write!(f, "{subject} failed: {err}"),
            JobError::Panicked(msg) => write!(f, "{subject} panicked: {msg}"),
            JobError::TimedOut => write!(f, "{subject} timed out"),
            JobError::Cancelled => write!(f, "{subject} cancelled"),
            JobError::Shutdown => write!(f, "{subject} never ran: the pool shut down"),
        }
    }

    /// The cause after the one `Display` shows: the job error's own source.
    pub(crate) fn next_source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            JobError::Failed(err) => err.source(),
            _ => None,
        }
    }
}

/// An error and its causes on one line, joined by `": "`, as anyhow's `{:#}` prints them:
/// what the pool writes for a failed job's error text, and what the conveyor crates log.
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use std::fmt;
///
/// #[derive(Debug)]
/// struct Upload(std::io::Error);
/// impl fmt::Display for Upload {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("upload failed")
///     }
/// }
/// impl Error for Upload {
///     fn source(&self) -> Option<&(dyn Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let err = Upload(std::io::Error::other("disk full"));
/// assert_eq!(conveyor_pool::error::chain_text(&err), "upload failed: disk full");
/// ```
pub fn chain_text(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(&"job", f)
    }
}

/// The job's own error is in `Display` already, so the chain goes on from its source: see
/// [What it prints](JobError#what-it-prints).
impl StdError for JobError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.next_source()
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
